"""Decoder for Kubernetes protobuf request bodies (Content-Type
application/vnd.kubernetes.protobuf), as kubectl 1.32's typed clients send
them: create namespace/serviceaccount/token/secret/configmap/role/
clusterrole/rolebinding/clusterrolebinding/deployment/service, auth can-i
(SelfSubjectAccessReview, and SelfSubjectRulesReview for --list), auth
whoami; plus SubjectAccessReview, TokenReview, Pod and DeleteOptions.

    decode(body: bytes) -> dict     # the JSON-equivalent object

Body layout (../shared/research/kubectl-wire.md, 1.3):

    "k8s\\x00" + runtime.Unknown{1 typeMeta{1 apiVersion, 2 kind},
                                 2 raw (the object), 3 contentEncoding,
                                 4 contentType}

The object is decoded with the message schemas below (field numbers from the
k8s.io/api and apimachinery generated.proto files). gogo-protobuf writes every
non-pointer field even when empty; those zero values ("" / 0 / false / empty
message / empty list or map / zero Time) are dropped, so the result looks like
what a JSON client sends. Pointer fields (Go *T, marked PTR below) keep their
value when present, because presence is meaningful there (e.g.
automountServiceAccountToken: false, an empty resourceAttributes). Items of
repeated fields are kept as they are (apiGroups: [""] stays).

Unknown fields are skipped (as protobuf decoders do); malformed input raises
ValueError.
"""

import base64
import datetime
import json

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

__all__ = ["decode", "decode_object", "is_protobuf", "MAGIC", "CONTENT_TYPE", "KINDS"]

# field flags
REP = 1   # repeated
PTR = 2   # Go pointer / optional: keep even when zero-valued

# Message schemas: message -> list of (field number, json name, type, flags),
# in Go struct (= JSON) order. A type is a scalar ("string", "bytes", "int64",
# "int32", "bool"), "time" (metav1.Time), "fieldsV1" (raw JSON), "intstr"
# (IntOrString: int or str), "quantity" (resource.Quantity: str), "map:<value
# type>" (map<string, V> with V in string, bytes, quantity, extra), or a
# message name. A field named "" is an embedded struct, inlined in JSON.
SCHEMAS = {
    # --- k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": [
        (1, "name", "string", 0),
        (2, "generateName", "string", 0),
        (3, "namespace", "string", 0),
        (4, "selfLink", "string", 0),
        (5, "uid", "string", 0),
        (6, "resourceVersion", "string", 0),
        (7, "generation", "int64", 0),
        (8, "creationTimestamp", "time", 0),
        (9, "deletionTimestamp", "time", PTR),
        (10, "deletionGracePeriodSeconds", "int64", PTR),
        (11, "labels", "map:string", 0),
        (12, "annotations", "map:string", 0),
        (13, "ownerReferences", "OwnerReference", REP),
        (14, "finalizers", "string", REP),
        (17, "managedFields", "ManagedFieldsEntry", REP),
    ],
    "OwnerReference": [
        (5, "apiVersion", "string", 0),
        (1, "kind", "string", 0),
        (3, "name", "string", 0),
        (4, "uid", "string", 0),
        (6, "controller", "bool", PTR),
        (7, "blockOwnerDeletion", "bool", PTR),
    ],
    "ManagedFieldsEntry": [
        (1, "manager", "string", 0),
        (2, "operation", "string", 0),
        (3, "apiVersion", "string", 0),
        (4, "time", "time", PTR),
        (6, "fieldsType", "string", 0),
        (7, "fieldsV1", "fieldsV1", PTR),
        (8, "subresource", "string", 0),
    ],
    "LabelSelector": [
        (1, "matchLabels", "map:string", 0),
        (2, "matchExpressions", "LabelSelectorRequirement", REP),
    ],
    "LabelSelectorRequirement": [
        (1, "key", "string", 0),
        (2, "operator", "string", 0),
        (3, "values", "string", REP),
    ],
    "Preconditions": [
        (1, "uid", "string", PTR),
        (2, "resourceVersion", "string", PTR),
    ],
    "DeleteOptions": [
        (1, "gracePeriodSeconds", "int64", PTR),
        (2, "preconditions", "Preconditions", PTR),
        (3, "orphanDependents", "bool", PTR),
        (4, "propagationPolicy", "string", PTR),
        (5, "dryRun", "string", REP),
    ],
    # --- k8s.io/api/core/v1
    "Namespace": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "NamespaceSpec", 0),
        (3, "status", "NamespaceStatus", 0),
    ],
    "NamespaceSpec": [
        (1, "finalizers", "string", REP),
    ],
    "NamespaceStatus": [
        (1, "phase", "string", 0),
        (2, "conditions", "NamespaceCondition", REP),
    ],
    "NamespaceCondition": [
        (1, "type", "string", 0),
        (2, "status", "string", 0),
        (4, "lastTransitionTime", "time", 0),
        (5, "reason", "string", 0),
        (6, "message", "string", 0),
    ],
    "ServiceAccount": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "secrets", "ObjectReference", REP),
        (3, "imagePullSecrets", "LocalObjectReference", REP),
        (4, "automountServiceAccountToken", "bool", PTR),
    ],
    "ObjectReference": [
        (1, "kind", "string", 0),
        (2, "namespace", "string", 0),
        (3, "name", "string", 0),
        (4, "uid", "string", 0),
        (5, "apiVersion", "string", 0),
        (6, "resourceVersion", "string", 0),
        (7, "fieldPath", "string", 0),
    ],
    "LocalObjectReference": [
        (1, "name", "string", 0),
    ],
    "Secret": [
        (1, "metadata", "ObjectMeta", 0),
        (5, "immutable", "bool", PTR),
        (2, "data", "map:bytes", 0),
        (4, "stringData", "map:string", 0),
        (3, "type", "string", 0),
    ],
    "ConfigMap": [
        (1, "metadata", "ObjectMeta", 0),
        (4, "immutable", "bool", PTR),
        (2, "data", "map:string", 0),
        (3, "binaryData", "map:bytes", 0),
    ],
    # Service (kubectl create service ...), core/v1
    "Service": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "ServiceSpec", 0),
        (3, "status", "ServiceStatus", 0),
    ],
    "ServiceSpec": [
        (1, "ports", "ServicePort", REP),
        (2, "selector", "map:string", 0),
        (3, "clusterIP", "string", 0),
        (18, "clusterIPs", "string", REP),
        (4, "type", "string", 0),
        (5, "externalIPs", "string", REP),
        (7, "sessionAffinity", "string", 0),
        (8, "loadBalancerIP", "string", 0),
        (9, "loadBalancerSourceRanges", "string", REP),
        (10, "externalName", "string", 0),
        (11, "externalTrafficPolicy", "string", 0),
        (12, "healthCheckNodePort", "int32", 0),
        (13, "publishNotReadyAddresses", "bool", 0),
        (19, "ipFamilies", "string", REP),
        (17, "ipFamilyPolicy", "string", PTR),
        (20, "allocateLoadBalancerNodePorts", "bool", PTR),
        (21, "loadBalancerClass", "string", PTR),
        (22, "internalTrafficPolicy", "string", PTR),
        (23, "trafficDistribution", "string", PTR),
    ],
    "ServicePort": [
        (1, "name", "string", 0),
        (2, "protocol", "string", 0),
        (6, "appProtocol", "string", PTR),
        (3, "port", "int32", 0),
        (4, "targetPort", "intstr", 0),
        (5, "nodePort", "int32", 0),
    ],
    "ServiceStatus": [
        (1, "loadBalancer", "LoadBalancerStatus", 0),
    ],
    "LoadBalancerStatus": [
        (1, "ingress", "LoadBalancerIngress", REP),
    ],
    "LoadBalancerIngress": [
        (1, "ip", "string", 0),
        (2, "hostname", "string", 0),
        (3, "ipMode", "string", PTR),
    ],
    # Pod and the parts of PodSpec that kubectl's generators set (volumes,
    # probes, affinity and security contexts are not decoded: skipped)
    "Pod": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "PodSpec", 0),
    ],
    "PodTemplateSpec": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "PodSpec", 0),
    ],
    "PodSpec": [
        (20, "initContainers", "Container", REP),
        (2, "containers", "Container", REP),
        (3, "restartPolicy", "string", 0),
        (4, "terminationGracePeriodSeconds", "int64", PTR),
        (5, "activeDeadlineSeconds", "int64", PTR),
        (6, "dnsPolicy", "string", 0),
        (7, "nodeSelector", "map:string", 0),
        (8, "serviceAccountName", "string", 0),
        (9, "serviceAccount", "string", 0),
        (21, "automountServiceAccountToken", "bool", PTR),
        (10, "nodeName", "string", 0),
        (11, "hostNetwork", "bool", 0),
        (12, "hostPID", "bool", 0),
        (13, "hostIPC", "bool", 0),
        (27, "shareProcessNamespace", "bool", PTR),
        (15, "imagePullSecrets", "LocalObjectReference", REP),
        (16, "hostname", "string", 0),
        (17, "subdomain", "string", 0),
        (19, "schedulerName", "string", 0),
        (22, "tolerations", "Toleration", REP),
        (24, "priorityClassName", "string", 0),
        (25, "priority", "int32", PTR),
        (29, "runtimeClassName", "string", PTR),
        (30, "enableServiceLinks", "bool", PTR),
        (31, "preemptionPolicy", "string", PTR),
        (35, "setHostnameAsFQDN", "bool", PTR),
        (37, "hostUsers", "bool", PTR),
    ],
    "Container": [
        (1, "name", "string", 0),
        (2, "image", "string", 0),
        (3, "command", "string", REP),
        (4, "args", "string", REP),
        (5, "workingDir", "string", 0),
        (6, "ports", "ContainerPort", REP),
        (7, "env", "EnvVar", REP),
        (8, "resources", "ResourceRequirements", 0),
        (24, "restartPolicy", "string", PTR),
        (9, "volumeMounts", "VolumeMount", REP),
        (13, "terminationMessagePath", "string", 0),
        (20, "terminationMessagePolicy", "string", 0),
        (14, "imagePullPolicy", "string", 0),
        (16, "stdin", "bool", 0),
        (17, "stdinOnce", "bool", 0),
        (18, "tty", "bool", 0),
    ],
    "ContainerPort": [
        (1, "name", "string", 0),
        (2, "hostPort", "int32", 0),
        (3, "containerPort", "int32", 0),
        (4, "protocol", "string", 0),
        (5, "hostIP", "string", 0),
    ],
    "EnvVar": [
        (1, "name", "string", 0),
        (2, "value", "string", 0),
        (3, "valueFrom", "EnvVarSource", PTR),
    ],
    "EnvVarSource": [
        (1, "fieldRef", "ObjectFieldSelector", PTR),
        (2, "resourceFieldRef", "ResourceFieldSelector", PTR),
        (3, "configMapKeyRef", "KeySelector", PTR),
        (4, "secretKeyRef", "KeySelector", PTR),
    ],
    "ObjectFieldSelector": [
        (1, "apiVersion", "string", 0),
        (2, "fieldPath", "string", 0),
    ],
    "ResourceFieldSelector": [
        (1, "containerName", "string", 0),
        (2, "resource", "string", 0),
        (3, "divisor", "quantity", 0),
    ],
    "KeySelector": [  # ConfigMapKeySelector / SecretKeySelector (LocalObjectReference inlined)
        (1, "", "LocalObjectReference", 0),
        (2, "key", "string", 0),
        (3, "optional", "bool", PTR),
    ],
    "ResourceRequirements": [
        (1, "limits", "map:quantity", 0),
        (2, "requests", "map:quantity", 0),
    ],
    "VolumeMount": [
        (1, "name", "string", 0),
        (2, "readOnly", "bool", 0),
        (7, "recursiveReadOnly", "string", PTR),
        (3, "mountPath", "string", 0),
        (4, "subPath", "string", 0),
        (5, "mountPropagation", "string", PTR),
        (6, "subPathExpr", "string", 0),
    ],
    "Toleration": [
        (1, "key", "string", 0),
        (2, "operator", "string", 0),
        (3, "value", "string", 0),
        (4, "effect", "string", 0),
        (5, "tolerationSeconds", "int64", PTR),
    ],
    # --- k8s.io/api/apps/v1 (kubectl create deployment)
    "Deployment": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "DeploymentSpec", 0),
        (3, "status", "DeploymentStatus", 0),
    ],
    "DeploymentSpec": [
        (1, "replicas", "int32", PTR),
        (2, "selector", "LabelSelector", PTR),
        (3, "template", "PodTemplateSpec", 0),
        (4, "strategy", "DeploymentStrategy", 0),
        (5, "minReadySeconds", "int32", 0),
        (6, "revisionHistoryLimit", "int32", PTR),
        (7, "paused", "bool", 0),
        (9, "progressDeadlineSeconds", "int32", PTR),
    ],
    "DeploymentStrategy": [
        (1, "type", "string", 0),
        (2, "rollingUpdate", "RollingUpdateDeployment", PTR),
    ],
    "RollingUpdateDeployment": [
        (1, "maxUnavailable", "intstr", PTR),
        (2, "maxSurge", "intstr", PTR),
    ],
    "DeploymentStatus": [
        (1, "observedGeneration", "int64", 0),
        (2, "replicas", "int32", 0),
        (3, "updatedReplicas", "int32", 0),
        (7, "readyReplicas", "int32", 0),
        (4, "availableReplicas", "int32", 0),
        (5, "unavailableReplicas", "int32", 0),
        (9, "terminatingReplicas", "int32", PTR),
        (6, "conditions", "DeploymentCondition", REP),
        (8, "collisionCount", "int32", PTR),
    ],
    "DeploymentCondition": [
        (1, "type", "string", 0),
        (2, "status", "string", 0),
        (6, "lastUpdateTime", "time", 0),
        (7, "lastTransitionTime", "time", 0),
        (4, "reason", "string", 0),
        (5, "message", "string", 0),
    ],
    # --- k8s.io/api/authentication/v1
    "TokenRequest": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "TokenRequestSpec", 0),
        (3, "status", "TokenRequestStatus", 0),
    ],
    "TokenRequestSpec": [
        (1, "audiences", "string", REP),
        (4, "expirationSeconds", "int64", PTR),
        (3, "boundObjectRef", "BoundObjectReference", PTR),
    ],
    "BoundObjectReference": [
        (1, "kind", "string", 0),
        (2, "apiVersion", "string", 0),
        (3, "name", "string", 0),
        (4, "uid", "string", 0),
    ],
    "TokenRequestStatus": [
        (1, "token", "string", 0),
        (2, "expirationTimestamp", "time", 0),
    ],
    "TokenReview": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "TokenReviewSpec", 0),
        (3, "status", "TokenReviewStatus", 0),
    ],
    "TokenReviewSpec": [
        (1, "token", "string", 0),
        (2, "audiences", "string", REP),
    ],
    "TokenReviewStatus": [
        (1, "authenticated", "bool", 0),
        (2, "user", "UserInfo", 0),
        (4, "audiences", "string", REP),
        (3, "error", "string", 0),
    ],
    "UserInfo": [
        (1, "username", "string", 0),
        (2, "uid", "string", 0),
        (3, "groups", "string", REP),
        (4, "extra", "map:extra", 0),
    ],
    "SelfSubjectReview": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "status", "SelfSubjectReviewStatus", 0),
    ],
    "SelfSubjectReviewStatus": [
        (1, "userInfo", "UserInfo", 0),
    ],
    # --- k8s.io/api/authorization/v1
    "SubjectAccessReview": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "SubjectAccessReviewSpec", 0),
        (3, "status", "SubjectAccessReviewStatus", 0),
    ],
    "SelfSubjectAccessReview": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "SelfSubjectAccessReviewSpec", 0),
        (3, "status", "SubjectAccessReviewStatus", 0),
    ],
    "SubjectAccessReviewSpec": [
        (1, "resourceAttributes", "ResourceAttributes", PTR),
        (2, "nonResourceAttributes", "NonResourceAttributes", PTR),
        (3, "user", "string", 0),
        (4, "groups", "string", REP),
        (5, "extra", "map:extra", 0),
        (6, "uid", "string", 0),
    ],
    "SelfSubjectAccessReviewSpec": [
        (1, "resourceAttributes", "ResourceAttributes", PTR),
        (2, "nonResourceAttributes", "NonResourceAttributes", PTR),
    ],
    "ResourceAttributes": [
        (1, "namespace", "string", 0),
        (2, "verb", "string", 0),
        (3, "group", "string", 0),
        (4, "version", "string", 0),
        (5, "resource", "string", 0),
        (6, "subresource", "string", 0),
        (7, "name", "string", 0),
        (8, "fieldSelector", "FieldSelectorAttributes", PTR),
        (9, "labelSelector", "LabelSelectorAttributes", PTR),
    ],
    "FieldSelectorAttributes": [
        (1, "rawSelector", "string", 0),
        (2, "requirements", "FieldSelectorRequirement", REP),
    ],
    "FieldSelectorRequirement": [
        (1, "key", "string", 0),
        (2, "operator", "string", 0),
        (3, "values", "string", REP),
    ],
    "LabelSelectorAttributes": [
        (1, "rawSelector", "string", 0),
        (2, "requirements", "LabelSelectorRequirement", REP),
    ],
    "NonResourceAttributes": [
        (1, "path", "string", 0),
        (2, "verb", "string", 0),
    ],
    "SubjectAccessReviewStatus": [
        (1, "allowed", "bool", 0),
        (4, "denied", "bool", 0),
        (2, "reason", "string", 0),
        (3, "evaluationError", "string", 0),
    ],
    "SelfSubjectRulesReview": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "spec", "SelfSubjectRulesReviewSpec", 0),
        (3, "status", "SubjectRulesReviewStatus", 0),
    ],
    "SelfSubjectRulesReviewSpec": [
        (1, "namespace", "string", 0),
    ],
    "SubjectRulesReviewStatus": [
        (1, "resourceRules", "ResourceRule", REP),
        (2, "nonResourceRules", "NonResourceRule", REP),
        (3, "incomplete", "bool", 0),
        (4, "evaluationError", "string", 0),
    ],
    "ResourceRule": [
        (1, "verbs", "string", REP),
        (2, "apiGroups", "string", REP),
        (3, "resources", "string", REP),
        (4, "resourceNames", "string", REP),
    ],
    "NonResourceRule": [
        (1, "verbs", "string", REP),
        (2, "nonResourceURLs", "string", REP),
    ],
    # --- k8s.io/api/rbac/v1
    "Role": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "rules", "PolicyRule", REP),
    ],
    "ClusterRole": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "rules", "PolicyRule", REP),
        (3, "aggregationRule", "AggregationRule", PTR),
    ],
    "PolicyRule": [
        (1, "verbs", "string", REP),
        (2, "apiGroups", "string", REP),
        (3, "resources", "string", REP),
        (4, "resourceNames", "string", REP),
        (5, "nonResourceURLs", "string", REP),
    ],
    "AggregationRule": [
        (1, "clusterRoleSelectors", "LabelSelector", REP),
    ],
    "RoleBinding": [
        (1, "metadata", "ObjectMeta", 0),
        (2, "subjects", "Subject", REP),
        (3, "roleRef", "RoleRef", 0),
    ],
    "Subject": [
        (1, "kind", "string", 0),
        (2, "apiGroup", "string", 0),
        (3, "name", "string", 0),
        (4, "namespace", "string", 0),
    ],
    "RoleRef": [
        (1, "apiGroup", "string", 0),
        (2, "kind", "string", 0),
        (3, "name", "string", 0),
    ],
}
SCHEMAS["LocalSubjectAccessReview"] = SCHEMAS["SubjectAccessReview"]
SCHEMAS["ClusterRoleBinding"] = SCHEMAS["RoleBinding"]

# (apiVersion, kind) -> top-level message
KINDS = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("apps/v1", "Deployment"): "Deployment",
    ("v1", "DeleteOptions"): "DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "TokenReview"): "TokenReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authentication.k8s.io/v1beta1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authentication.k8s.io/v1alpha1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "LocalSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
}

_UNKNOWN = [  # k8s.io/apimachinery/pkg/runtime Unknown
    (1, "typeMeta", "TypeMeta", 0),
    (2, "raw", "rawbytes", 0),
    (3, "contentEncoding", "string", 0),
    (4, "contentType", "string", 0),
]
_TYPEMETA = [(1, "apiVersion", "string", 0), (2, "kind", "string", 0)]

# Field tables keyed by number, built once.
_BY_NUMBER = {name: {f[0]: f for f in fields} for name, fields in SCHEMAS.items()}
_BY_NUMBER["Unknown"] = {f[0]: f for f in _UNKNOWN}
_BY_NUMBER["TypeMeta"] = {f[0]: f for f in _TYPEMETA}
_ORDER = {name: [f[1] for f in fields] for name, fields in SCHEMAS.items()}
_ORDER["Unknown"] = [f[1] for f in _UNKNOWN]
_ORDER["TypeMeta"] = [f[1] for f in _TYPEMETA]
_PTR_KEYS = {name: {f[1]: bool(f[3] & PTR) for f in t.values()}
             for name, t in _BY_NUMBER.items()}

_MAX_DEPTH = 32


# ------------------------------------------------------------- wire format

def _varint(buf, pos, end, what):
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ValueError("protobuf: truncated varint in %s" % what)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("protobuf: varint longer than 10 bytes in %s" % what)


def _fields(buf, pos, end, what):
    """Yield (field number, wire type, value) over buf[pos:end]; value is an
    int for varints and fixed-width values, a (start, end) pair for
    length-delimited ones."""
    while pos < end:
        key, pos = _varint(buf, pos, end, what)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError("protobuf: field number 0 in %s" % what)
        if wt == 0:
            val, pos = _varint(buf, pos, end, what)
        elif wt == 2:
            n, pos = _varint(buf, pos, end, what)
            if n > end - pos:
                raise ValueError("protobuf: field %d of %s: length %d runs past the end"
                                 " (%d bytes left)" % (num, what, n, end - pos))
            val = (pos, pos + n)
            pos += n
        elif wt == 1:
            if end - pos < 8:
                raise ValueError("protobuf: truncated fixed64 in %s" % what)
            val = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            if end - pos < 4:
                raise ValueError("protobuf: truncated fixed32 in %s" % what)
            val = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError("protobuf: unknown or unsupported wire type %d (field %d) in %s"
                             % (wt, num, what))
        yield num, wt, val


def _signed64(v):
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _signed32(v):
    v = _signed64(v)
    v &= (1 << 32) - 1
    return v - (1 << 32) if v >= 1 << 31 else v


def _text(buf, span, what):
    try:
        return bytes(buf[span[0]:span[1]]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError("protobuf: invalid UTF-8 in %s: %s" % (what, e))


def _time(buf, span, what):
    """metav1.Time: empty -> zero (None); else Timestamp{1 seconds, 2 nanos},
    kept at second precision as the apiserver does."""
    if span[0] == span[1]:
        return None
    seconds = 0
    for num, wt, val in _fields(buf, span[0], span[1], what):
        if num == 1:
            if wt != 0:
                raise ValueError("protobuf: %s.seconds: wire type %d, want varint" % (what, wt))
            seconds = _signed64(val)
    try:
        t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + \
            datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("protobuf: %s: time out of range (%d s)" % (what, seconds))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(buf, span, what):
    """resource.Quantity{1 string} -> its string form."""
    value = ""
    for num, wt, val in _fields(buf, span[0], span[1], what):
        if num == 1 and wt == 2:
            value = _text(buf, val, what)
    return value


def _intstr(buf, span, what):
    """intstr.IntOrString{1 type, 2 intVal, 3 strVal} -> int or str."""
    typ, ival, sval = 0, 0, ""
    for num, wt, val in _fields(buf, span[0], span[1], what):
        if num == 1 and wt == 0:
            typ = _signed64(val)
        elif num == 2 and wt == 0:
            ival = _signed32(val)
        elif num == 3 and wt == 2:
            sval = _text(buf, val, what)
    return sval if typ == 1 else ival


def _map_entry(buf, span, vtype, what):
    key, value = "", None
    for num, wt, val in _fields(buf, span[0], span[1], what):
        if num not in (1, 2):
            continue
        if wt != 2:
            raise ValueError("protobuf: %s map entry field %d: wire type %d, want bytes"
                             % (what, num, wt))
        if num == 1:
            key = _text(buf, val, what + " key")
        elif vtype == "string":
            value = _text(buf, val, what + "[" + key + "]")
        elif vtype == "bytes":
            value = base64.b64encode(bytes(buf[val[0]:val[1]])).decode("ascii")
        elif vtype == "quantity":
            value = _quantity(buf, val, what)
        elif vtype == "extra":  # ExtraValue{repeated string items = 1}
            value = []
            for n2, wt2, v2 in _fields(buf, val[0], val[1], what):
                if n2 == 1:
                    if wt2 != 2:
                        raise ValueError("protobuf: %s items: wire type %d" % (what, wt2))
                    value.append(_text(buf, v2, what))
    if value is None:
        value = [] if vtype == "extra" else ""
    return key, value


_LEN_TYPES = ("string", "bytes", "rawbytes", "time", "fieldsV1", "intstr", "quantity")


def _scalar(buf, typ, wt, val, what):
    if typ in _LEN_TYPES or typ in _BY_NUMBER:
        if wt != 2:
            raise ValueError("protobuf: %s: wire type %d, want length-delimited" % (what, wt))
        if typ == "string":
            return _text(buf, val, what)
        if typ == "bytes":
            return base64.b64encode(bytes(buf[val[0]:val[1]])).decode("ascii")
        if typ == "rawbytes":
            return bytes(buf[val[0]:val[1]])
        if typ == "time":
            return _time(buf, val, what)
        if typ == "intstr":
            return _intstr(buf, val, what)
        if typ == "quantity":
            return _quantity(buf, val, what)
        if typ == "fieldsV1":
            raw = None
            for num, wt2, v2 in _fields(buf, val[0], val[1], what):
                if num == 1 and wt2 == 2:
                    raw = bytes(buf[v2[0]:v2[1]])
            if not raw:
                return {}
            try:
                return json.loads(raw.decode("utf-8"))
            except ValueError as e:
                raise ValueError("protobuf: %s: invalid JSON in fieldsV1: %s" % (what, e))
        return None  # message: handled by caller
    if wt != 0:
        raise ValueError("protobuf: %s: wire type %d, want varint" % (what, wt))
    if typ == "bool":
        return val != 0
    if typ == "int64":
        return _signed64(val)
    if typ == "int32":
        return _signed32(val)
    raise ValueError("protobuf: internal: unknown type %r" % typ)


def _is_zero(v):
    if v is None or v is False:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, str, bytes, dict, list)):
        return not v
    return False


def _message(buf, start, end, name, depth):
    if depth > _MAX_DEPTH:
        raise ValueError("protobuf: nesting deeper than %d" % _MAX_DEPTH)
    table = _BY_NUMBER[name]
    got = {}
    for num, wt, val in _fields(buf, start, end, name):
        spec = table.get(num)
        if spec is None:
            continue  # unknown field: skipped, as protobuf decoders do
        _n, key, typ, flags = spec
        what = "%s.%s" % (name, key)
        if typ in _BY_NUMBER:
            if wt != 2:
                raise ValueError("protobuf: %s: wire type %d, want length-delimited" % (what, wt))
            value = _message(buf, val[0], val[1], typ, depth + 1)
        elif typ.startswith("map:"):
            if wt != 2:
                raise ValueError("protobuf: %s: wire type %d, want length-delimited" % (what, wt))
            k, v = _map_entry(buf, val, typ[4:], what)
            got.setdefault(key, {})[k] = v
            continue
        else:
            value = _scalar(buf, typ, wt, val, what)
        if flags & REP:
            got.setdefault(key, []).append(value)
        elif isinstance(value, dict) and isinstance(got.get(key), dict):
            got[key].update(value)  # a repeated message field merges, as in protobuf
        else:
            got[key] = value  # a repeated scalar field: last one wins
    out = {}
    for key in _ORDER[name]:
        if key not in got:
            continue
        v = got[key]
        # zero values are dropped, except for pointer fields (present on the
        # wire = set), e.g. automountServiceAccountToken: false
        if _is_zero(v) and (v is None or not _PTR_KEYS[name].get(key)):
            continue
        if key == "":
            out.update(v)  # an embedded (inlined) struct
        else:
            out[key] = v
    return out


# ------------------------------------------------------------------- API

def is_protobuf(content_type):
    """True for application/vnd.kubernetes.protobuf (parameters ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def decode_object(api_version, kind, raw):
    """Decode the protobuf encoding of one object (no envelope)."""
    msg = KINDS.get((api_version, kind))
    if msg is None:
        raise ValueError("protobuf: no protobuf schema for %s, Kind=%s" % (api_version, kind))
    raw = bytes(raw)
    obj = {"kind": kind, "apiVersion": api_version}
    obj.update(_message(raw, 0, len(raw), msg, 0))
    return obj


def decode(body):
    """Decode a Kubernetes protobuf request body into a JSON-like dict with
    kind and apiVersion first. Raises ValueError on anything malformed or
    unsupported."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ValueError("protobuf: body must be bytes, not %s" % type(body).__name__)
    body = bytes(body)
    if body[:4] != MAGIC:
        raise ValueError("protobuf: missing the k8s\\x00 magic prefix (got %r)" % body[:4])
    env = _message(body, 4, len(body), "Unknown", 0)
    tm = env.get("typeMeta") or {}
    api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
    if not kind or not api_version:
        raise ValueError("protobuf: envelope has no apiVersion/kind")
    if env.get("contentEncoding"):
        raise ValueError("protobuf: unsupported contentEncoding %r" % env["contentEncoding"])
    ct = env.get("contentType")
    if ct and not is_protobuf(ct):
        raise ValueError("protobuf: unsupported embedded contentType %r" % ct)
    return decode_object(api_version, kind, env.get("raw", b""))
