/* kubelua.http: HTTP requests on libcurl.
 *
 * A Request owns one easy handle; a Multi owns one multi handle and drives
 * the requests added to it (curl's easy_transfer loop: perform, info_read,
 * poll). C never calls back into Lua: callbacks only fill C buffers, and
 * multi:wait() hands the finished (or, in stream mode, fed) requests back to
 * Lua, whose scheduler (lua/kubelua/async.lua) resumes coroutines. The
 * module-level default multi keeps connections alive between sequential
 * requests; one CURLSH per lua_State shares the DNS and TLS session caches
 * between all easy handles.
 *
 * Lua API (see also lua/kubelua/async.lua):
 *   http.request{ url, method, headers, body, timeout, connect_timeout,
 *                 ca_data, ca_file, insecure, cert_data, cert_file,
 *                 key_data, key_file, connect_to, proxy, stream } -> req
 *     headers: name -> string | number | list of strings (one line each)
 *     proxy: URL, or false to ignore HTTPS_PROXY/https_proxy/NO_PROXY
 *   req:perform() -> resp | nil, err   (blocking, on the default multi)
 *     stream = true: a stream pauses while 8 MB are unread (backpressure);
 *     to an HTTP/1.1 origin it gets a connection of its own (never a
 *     pooled one, never pooled); over HTTP/2 it shares the connection
 *   req:done(), req:response(), req:read() (stream), req:head() (stream:
 *   status and headers so far), req:buffered() (stream: unread bytes,
 *   paused?), req:close() (also __close and __gc)
 *   resp = { status, headers (lowercase names, repeats joined by ", "),
 *            warnings (every Warning header), body, http_version ("1.1",
 *            "2"), time (seconds), new_connection (boolean) }
 *   err = kubelua.Error { kind = "transport", code = CURLcode, curl =
 *         "COULDNT_CONNECT", message = "<plain words>: <curl's words>",
 *         url (without user:password), method }
 *   http.multi{ max_host_connections = 32, max_total_connections = 0 }
 *   http.default_multi([same options]); m:add(req); m:wait([ms]) -> list;
 *   m:pending(); m:close()
 *   http.now() (monotonic seconds), http.sleep(s), http.curl_version(),
 *   http.Error (the error class, registry["kubelua.Error"]) */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "kl_error.h"

#ifndef KL_VERSION
#define KL_VERSION "0"
#endif

#define REQUEST_MT "kubelua.http.Request"
#define MULTI_MT "kubelua.http.Multi"
#define SHARE_MT "kubelua.http.Share"
#define DEFAULT_MULTI_KEY "kubelua.http.default_multi"

#define DEFAULT_MAX_HOST_CONNECTIONS 32
#define MAX_H1_ORIGINS 16 /* origins remembered as HTTP/1 only */
#define MAX_ORIGIN 256
#define POLL_SLICE_MS 200         /* longest sleep between interrupt checks */
#define PRESIZE_LIMIT (64 << 20)  /* trust Content-Length up to this size */
#define STREAM_PAUSE_AT (8 << 20) /* stream: unread bytes that pause it */

/* uservalue slots of a Request */
#define UV_BODY 1     /* the request body string, kept alive for curl */
#define UV_RESPONSE 2 /* the response table or error object, once built */

struct kl_buf {
  char *p;
  size_t len;
  size_t cap;
};

struct kl_share {
  CURLSH *handle;
  int refs; /* the anchor userdata plus every request using it */
};

struct kl_request;

struct kl_multi {
  CURLM *handle;
  struct kl_request *attached;   /* doubly linked: in flight or undelivered */
  struct kl_request *ready_head; /* finished or fed, not yet handed out */
  struct kl_request *ready_tail;
  int count;              /* requests in `attached` */
  struct kl_share *share; /* outlives the connections of this multi */
  /* HTTPS origins that answered in HTTP/1: requests to them do not wait for
   * a multiplexable connection (CURLOPT_PIPEWAIT), which in curl 7.88 would
   * queue parallel requests behind one HTTP/1 connection. */
  char h1_origins[MAX_H1_ORIGINS][MAX_ORIGIN];
  int h1_next;
};

struct kl_request {
  CURL *easy;
  struct kl_share *share;
  struct kl_multi *multi; /* set while attached to a multi */
  struct kl_request *prev;
  struct kl_request *next;
  struct kl_request *ready_next;
  int self_ref;         /* keeps the userdata alive while attached */
  unsigned in_curl : 1; /* easy handle added to multi->handle */
  unsigned queued : 1;  /* in multi's ready list */
  unsigned done : 1;    /* transfer finished; result holds its code */
  unsigned stream : 1;  /* body handed out through read() */
  unsigned closed : 1;  /* released by close/__close/__gc */
  unsigned built : 1;   /* UV_RESPONSE holds the outcome */
  unsigned paused : 1;  /* stream: receiving paused until read() */
  CURLcode result;
  struct curl_slist *headers;
  struct curl_slist *connect_to;
  struct kl_buf body; /* response body (stream: not yet read) */
  struct kl_buf head; /* header block of the latest response */
  char errbuf[CURL_ERROR_SIZE];
};

/* ---- buffers ---- */

static int buf_reserve(struct kl_buf *b, size_t extra)
{
  size_t need = b->len + extra;
  size_t cap;
  char *p;

  if(need <= b->cap)
    return 1;
  if(need < b->len) /* overflow */
    return 0;
  cap = b->cap ? b->cap : 256;
  while(cap < need)
    cap = cap * 2 > cap ? cap * 2 : need;
  p = realloc(b->p, cap);
  if(!p)
    return 0;
  b->p = p;
  b->cap = cap;
  return 1;
}

static int buf_append(struct kl_buf *b, const char *data, size_t n)
{
  if(!buf_reserve(b, n))
    return 0;
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return 1;
}

static void buf_free(struct kl_buf *b)
{
  free(b->p);
  b->p = NULL;
  b->len = 0;
  b->cap = 0;
}

/* ---- time ---- */

static double mono_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- interruption ----
 * main.c answers SIGINT by setting a hook on the main thread. C code that
 * sleeps in poll() checks whether a hook appeared so that it can return to
 * Lua, where the hook raises "interrupted!". */
struct kl_intr {
  lua_State *main;
  lua_Hook main_hook;
  lua_Hook own_hook;
};

static void intr_start(lua_State *L, struct kl_intr *in)
{
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  in->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  in->main_hook = in->main ? lua_gethook(in->main) : NULL;
  in->own_hook = lua_gethook(L);
}

static int intr_check(lua_State *L, const struct kl_intr *in)
{
  return (in->main && lua_gethook(in->main) != in->main_hook) ||
         lua_gethook(L) != in->own_hook;
}

/* ---- the shared cache ---- */

static void share_release(struct kl_share *s)
{
  if(s && --s->refs == 0) {
    curl_share_cleanup(s->handle);
    free(s);
  }
}

/* [-0, +0] The anchor userdata's finalizer drops its reference; requests
 * still alive keep the share until they are released. */
static int share_gc(lua_State *L)
{
  struct kl_share **sp = luaL_checkudata(L, 1, SHARE_MT);

  share_release(*sp);
  *sp = NULL;
  return 0;
}

/* [-0, +1] A new anchor userdata owning a fresh CURLSH. */
static void share_new(lua_State *L)
{
  struct kl_share **sp = lua_newuserdatauv(L, sizeof(*sp), 0);
  struct kl_share *s;

  *sp = NULL;
  luaL_setmetatable(L, SHARE_MT);
  s = calloc(1, sizeof(*s));
  if(!s) {
    luaL_error(L, "not enough memory");
    return;
  }
  s->refs = 1;
  *sp = s;
  s->handle = curl_share_init();
  if(!s->handle) {
    luaL_error(L, "curl_share_init failed");
    return;
  }
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

/* ---- the multi's lists ---- */

static void ready_push(struct kl_multi *m, struct kl_request *r)
{
  if(r->queued)
    return;
  r->queued = 1;
  r->ready_next = NULL;
  if(m->ready_tail)
    m->ready_tail->ready_next = r;
  else
    m->ready_head = r;
  m->ready_tail = r;
}

static void ready_remove(struct kl_multi *m, struct kl_request *r)
{
  struct kl_request **pp = &m->ready_head;
  struct kl_request *prev = NULL;

  if(!r->queued)
    return;
  while(*pp && *pp != r) {
    prev = *pp;
    pp = &(*pp)->ready_next;
  }
  if(*pp) {
    *pp = r->ready_next;
    if(m->ready_tail == r)
      m->ready_tail = prev;
  }
  r->queued = 0;
  r->ready_next = NULL;
}

/* Take r out of its multi: out of curl, the ready list and the attached
 * list; drops the self reference. Safe mid-flight. */
static void request_detach(lua_State *L, struct kl_request *r)
{
  struct kl_multi *m = r->multi;

  if(m) {
    if(r->in_curl)
      curl_multi_remove_handle(m->handle, r->easy);
    r->in_curl = 0;
    ready_remove(m, r);
    if(r->prev)
      r->prev->next = r->next;
    else
      m->attached = r->next;
    if(r->next)
      r->next->prev = r->prev;
    r->prev = r->next = NULL;
    m->count--;
    r->multi = NULL;
  }
  luaL_unref(L, LUA_REGISTRYINDEX, r->self_ref); /* no-op for LUA_NOREF */
  r->self_ref = LUA_NOREF;
}

/* The one release behind close, __close and __gc; idempotent. */
static void request_release(lua_State *L, struct kl_request *r)
{
  request_detach(L, r);
  curl_easy_cleanup(r->easy); /* accepts NULL */
  r->easy = NULL;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
  curl_slist_free_all(r->connect_to);
  r->connect_to = NULL;
  buf_free(&r->body);
  buf_free(&r->head);
  share_release(r->share);
  r->share = NULL;
  r->closed = 1;
}

/* The "https://host:port" prefix of url in out; 0 for other schemes. */
static int url_origin(const char *url, char *out)
{
  size_t n;

  if(!url || strncasecmp(url, "https://", 8) != 0)
    return 0;
  n = 8 + strcspn(url + 8, "/?#");
  if(n >= MAX_ORIGIN)
    return 0;
  memcpy(out, url, n);
  out[n] = '\0';
  return 1;
}

static int h1_find(struct kl_multi *m, const char *origin)
{
  int i;

  for(i = 0; i < MAX_H1_ORIGINS; i++)
    if(strcmp(m->h1_origins[i], origin) == 0)
      return i;
  return -1;
}

/* Remember which protocol the origin of a finished request spoke. */
static void learn_origin(struct kl_multi *m, CURL *easy)
{
  char origin[MAX_ORIGIN];
  char *url = NULL;
  long version = 0;
  int i;

  curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  if(!version || !url_origin(url, origin))
    return;
  i = h1_find(m, origin);
  if(version >= CURL_HTTP_VERSION_2_0) {
    if(i >= 0)
      m->h1_origins[i][0] = '\0';
  } else if(i < 0) {
    memcpy(m->h1_origins[m->h1_next], origin, strlen(origin) + 1);
    m->h1_next = (m->h1_next + 1) % MAX_H1_ORIGINS;
  }
}

/* Move every finished transfer from curl into the ready list. The result
 * is copied before the handle is removed (curl's multi-uv.c warning). */
static void multi_drain(struct kl_multi *m)
{
  CURLMsg *msg;
  int left;

  while((msg = curl_multi_info_read(m->handle, &left))) {
    CURLcode result;
    CURL *easy;
    struct kl_request *r = NULL;

    if(msg->msg != CURLMSG_DONE)
      continue;
    result = msg->data.result;
    easy = msg->easy_handle;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_multi_remove_handle(m->handle, easy);
    if(!r)
      continue;
    r->in_curl = 0;
    r->done = 1;
    r->result = result;
    if(result == CURLE_OK)
      learn_origin(m, easy);
    ready_push(m, r);
  }
}

/* ---- curl callbacks: C buffers only, never Lua ---- */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
  struct kl_request *r = ud;
  size_t len = size * n;

  if(r->stream && r->body.len >= STREAM_PAUSE_AT) {
    r->paused = 1; /* backpressure: curl keeps the data until read() */
    return CURL_WRITEFUNC_PAUSE;
  }
  if(!buf_append(&r->body, data, len))
    return 0; /* CURLE_WRITE_ERROR */
  if(r->stream && len && r->multi)
    ready_push(r->multi, r);
  return len;
}

static int header_is(const char *line, size_t len, const char *name)
{
  size_t n = strlen(name);

  return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
  struct kl_request *r = ud;
  size_t len = size * n;

  if(len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    r->head.len = 0; /* a new response (after 1xx or a proxy's CONNECT) */
  } else if(!r->stream && header_is(line, len, "content-length")) {
    char tmp[32];
    size_t k = len - 15 < sizeof(tmp) - 1 ? len - 15 : sizeof(tmp) - 1;
    unsigned long long cl;

    memcpy(tmp, line + 15, k);
    tmp[k] = '\0';
    cl = strtoull(tmp, NULL, 10);
    if(cl > 0 && cl <= PRESIZE_LIMIT && r->body.len == 0 &&
       !buf_reserve(&r->body, (size_t)cl))
      return 0;
  }
  if(!buf_append(&r->head, line, len))
    return 0;
  return len;
}

/* ---- error objects ---- */

static const char *curl_code_name(CURLcode c)
{
  switch(c) {
    /* clang-format off */
#define N(x)                                                                   \
  case CURLE_##x:                                                              \
    return #x;
    N(OK) N(UNSUPPORTED_PROTOCOL) N(FAILED_INIT) N(URL_MALFORMAT)
    N(NOT_BUILT_IN) N(COULDNT_RESOLVE_PROXY) N(COULDNT_RESOLVE_HOST)
    N(COULDNT_CONNECT) N(WEIRD_SERVER_REPLY) N(REMOTE_ACCESS_DENIED)
    N(HTTP2) N(PARTIAL_FILE) N(QUOTE_ERROR) N(HTTP_RETURNED_ERROR)
    N(WRITE_ERROR) N(UPLOAD_FAILED) N(READ_ERROR) N(OUT_OF_MEMORY)
    N(OPERATION_TIMEDOUT) N(RANGE_ERROR) N(HTTP_POST_ERROR)
    N(SSL_CONNECT_ERROR) N(BAD_DOWNLOAD_RESUME) N(FILE_COULDNT_READ_FILE)
    N(FUNCTION_NOT_FOUND) N(ABORTED_BY_CALLBACK) N(BAD_FUNCTION_ARGUMENT)
    N(INTERFACE_FAILED) N(TOO_MANY_REDIRECTS) N(UNKNOWN_OPTION)
    N(SETOPT_OPTION_SYNTAX) N(GOT_NOTHING) N(SSL_ENGINE_NOTFOUND)
    N(SSL_ENGINE_SETFAILED) N(SEND_ERROR) N(RECV_ERROR) N(SSL_CERTPROBLEM)
    N(SSL_CIPHER) N(PEER_FAILED_VERIFICATION) N(BAD_CONTENT_ENCODING)
    N(FILESIZE_EXCEEDED) N(USE_SSL_FAILED) N(SEND_FAIL_REWIND)
    N(SSL_ENGINE_INITFAILED) N(LOGIN_DENIED) N(SSL_CACERT_BADFILE)
    N(SSL_SHUTDOWN_FAILED) N(AGAIN) N(SSL_CRL_BADFILE) N(SSL_ISSUER_ERROR)
    N(CHUNK_FAILED) N(NO_CONNECTION_AVAILABLE) N(SSL_PINNEDPUBKEYNOTMATCH)
    N(SSL_INVALIDCERTSTATUS) N(HTTP2_STREAM) N(RECURSIVE_API_CALL)
    N(AUTH_ERROR) N(HTTP3) N(QUIC_CONNECT_ERROR) N(PROXY) N(SSL_CLIENTCERT)
    N(UNRECOVERABLE_POLL)
#undef N
        /* clang-format on */
        default : return "UNKNOWN";
  }
}

/* The words of a failure without plainer ones: curl's text says more. */
#define TRANSFER_FAILED "transfer failed"

/* The failure in plain words, as a user reads it. */
static const char *curl_code_words(CURLcode c)
{
  switch(c) {
  case CURLE_COULDNT_CONNECT:
    return "connection refused";
  case CURLE_PEER_FAILED_VERIFICATION:
    return "TLS certificate verification failed";
  case CURLE_COULDNT_RESOLVE_HOST:
    return "could not resolve host";
  case CURLE_COULDNT_RESOLVE_PROXY:
    return "could not resolve proxy";
  case CURLE_OPERATION_TIMEDOUT:
    return "timed out";
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
    return "connection dropped";
  case CURLE_SSL_CONNECT_ERROR:
    return "TLS handshake failed";
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CLIENTCERT:
    return "could not use the TLS client certificate";
  case CURLE_SSL_CACERT_BADFILE:
    return "could not load CA certificates";
  case CURLE_SSL_CIPHER:
    return "no shared TLS cipher";
  case CURLE_PROXY:
    return "proxy error";
  case CURLE_URL_MALFORMAT:
    return "malformed URL";
  case CURLE_UNSUPPORTED_PROTOCOL:
    return "unsupported protocol";
  case CURLE_WEIRD_SERVER_REPLY:
    return "invalid server reply";
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return "HTTP/2 error";
  case CURLE_BAD_CONTENT_ENCODING:
    return "bad content encoding";
  case CURLE_OUT_OF_MEMORY:
  case CURLE_WRITE_ERROR:
    return "out of memory";
  case CURLE_FILE_COULDNT_READ_FILE:
  case CURLE_READ_ERROR:
    return "could not read file";
  default:
    return TRANSFER_FAILED;
  }
}

/* [-0, +1] The URL for error objects, without user:password@. */
static void push_safe_url(lua_State *L, const char *url)
{
  const char *scheme = url ? strstr(url, "://") : NULL;
  const char *host;
  const char *end;
  const char *at = NULL;
  const char *p;

  if(!url) {
    lua_pushliteral(L, "");
    return;
  }
  if(!scheme) {
    lua_pushstring(L, url);
    return;
  }
  host = scheme + 3;
  end = host + strcspn(host, "/?#");
  for(p = host; p < end; p++)
    if(*p == '@')
      at = p;
  if(!at) {
    lua_pushstring(L, url);
    return;
  }
  lua_pushlstring(L, url, (size_t)(host - url));
  lua_pushstring(L, at + 1);
  lua_concat(L, 2);
}

/* The first case-insensitive occurrence of needle in hay[0..n), or NULL. */
static const char *find_words(const char *hay, size_t n, const char *needle)
{
  size_t k = strlen(needle);
  size_t i;

  for(i = 0; k > 0 && i + k <= n; i++)
    if(strncasecmp(hay + i, needle, k) == 0)
      return hay + i;
  return NULL;
}

/* [-0, +1] A transport error's message: our plain words, then what curl's
 * text adds to them, never the same words twice:
 *   "Could not resolve host: x"      -> "could not resolve host: x"
 *   "Operation timed out after 9 ms" -> "operation timed out after 9 ms"
 *   "Failed to connect to h port 1 after 0 ms: Couldn't connect to server"
 *                      -> "connection refused: Failed to connect to h port 1
 *                          after 0 ms" (curl's generic text for the code)
 *   "Couldn't resolve host name" (the generic text alone) -> the words */
static void push_transport_message(
    lua_State *L, const char *words, CURLcode c, const char *detail, size_t n)
{
  const char *generic = curl_easy_strerror(c);
  size_t g = strlen(generic);
  size_t w = strlen(words);
  int plain = strcmp(words, TRANSFER_FAILED) != 0;
  const char *at;

  if(plain && n > g + 2 && strncasecmp(detail + n - g, generic, g) == 0 &&
     detail[n - g - 2] == ':' && detail[n - g - 1] == ' ')
    n -= g + 2;
  if(n == 0 || (plain && n == g && strncasecmp(detail, generic, g) == 0)) {
    lua_pushstring(L, words);
    return;
  }
  at = find_words(detail, n, words);
  if(at == detail) {
    lua_pushstring(L, words);
    lua_pushlstring(L, detail + w, n - w);
    lua_concat(L, 2);
  } else if(at) {
    /* curl's sentence says it already: its own words, as ours start */
    if(n > 1 && isupper((unsigned char)detail[0]) &&
       islower((unsigned char)detail[1])) {
      char first = (char)tolower((unsigned char)detail[0]);

      lua_pushlstring(L, &first, 1);
      lua_pushlstring(L, detail + 1, n - 1);
      lua_concat(L, 2);
    } else {
      lua_pushlstring(L, detail, n);
    }
  } else {
    lua_pushfstring(L, "%s: ", words);
    lua_pushlstring(L, detail, n);
    lua_concat(L, 2);
  }
}

/* [-0, +1] The transport error object of a failed transfer. The message is
 * built from curl's error buffer and never holds headers or bodies. */
static void push_transport_error(lua_State *L, struct kl_request *r)
{
  CURLcode c = r->result;
  const char *detail = r->errbuf[0] ? r->errbuf : curl_easy_strerror(c);
  char *url = NULL;
  char *method = NULL;
  size_t n = strlen(detail);

  while(n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == ' '))
    n--;
  push_transport_message(L,
                         strncmp(detail, "CONNECT tunnel failed", 21) == 0
                             ? "proxy error" /* the proxy refused the tunnel */
                             : curl_code_words(c),
                         c, detail, n);
  kl_error_new(L, "transport", c, "%s", lua_tostring(L, -1));
  lua_remove(L, -2);
  lua_pushstring(L, curl_code_name(c));
  lua_setfield(L, -2, "curl");
  curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
  push_safe_url(L, url);
  lua_setfield(L, -2, "url");
  curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_METHOD, &method);
  if(method) {
    lua_pushstring(L, method);
    lua_setfield(L, -2, "method");
  }
}

/* ---- responses ---- */

/* [-0, +0] Parse the header block into `headers` (at index hi) and every
 * Warning header into the list at index wi. Names are lowercased; repeated
 * headers are joined with ", ". */
static void parse_headers(lua_State *L, const struct kl_buf *b, int hi, int wi)
{
  const char *p = b->p;
  const char *end = b->p + b->len;
  int first = 1;
  int nwarn = 0;

  while(p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    const char *colon;
    const char *v;
    const char *ve;

    if(line_end > p && line_end[-1] == '\r')
      line_end--;
    if(first) { /* the status line */
      first = 0;
    } else if(line_end > p && (*p == ' ' || *p == '\t')) {
      /* obsolete line folding: ignored, as kubelua never needs it */
    } else if(line_end > p &&
              (colon = memchr(p, ':', (size_t)(line_end - p))) != NULL) {
      luaL_Buffer name;
      const char *q;

      luaL_buffinit(L, &name);
      for(q = p; q < colon; q++)
        luaL_addchar(&name, (char)tolower((unsigned char)*q));
      luaL_pushresult(&name);
      v = colon + 1;
      ve = line_end;
      while(v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while(ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      /* stack: name */
      lua_pushvalue(L, -1);
      if(lua_rawget(L, hi) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      /* stack: name, value */
      if(strcmp(lua_tostring(L, -2), "warning") == 0) {
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_rawseti(L, wi, ++nwarn);
      }
      lua_rawset(L, hi);
    }
    p = eol ? eol + 1 : end;
  }
}

static const char *version_name(long v)
{
  switch(v) {
  case CURL_HTTP_VERSION_1_0:
    return "1.0";
  case CURL_HTTP_VERSION_1_1:
    return "1.1";
  case CURL_HTTP_VERSION_2_0:
    return "2";
  case CURL_HTTP_VERSION_3:
    return "3";
  default:
    return "";
  }
}

/* [-0, +1] { status, http_version, headers, warnings } of the response
 * received so far. */
static void push_head(lua_State *L, struct kl_request *r)
{
  long status = 0;
  long version = 0;
  int t;

  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &version);
  lua_createtable(L, 0, 6);
  t = lua_gettop(L);
  lua_pushinteger(L, status);
  lua_setfield(L, t, "status");
  lua_pushstring(L, version_name(version));
  lua_setfield(L, t, "http_version");
  lua_createtable(L, 0, 8);
  lua_createtable(L, 0, 0);
  /* stack: resp, headers, warnings */
  parse_headers(L, &r->head, t + 1, t + 2);
  lua_setfield(L, t, "warnings");
  lua_setfield(L, t, "headers");
}

/* [-0, +0] Build the outcome once and keep it in UV_RESPONSE: the response
 * table, or the error object. The C buffers are freed after. */
static void build_outcome(lua_State *L, int idx, struct kl_request *r)
{
  idx = lua_absindex(L, idx);
  if(r->built)
    return;
  if(r->result != CURLE_OK) {
    push_transport_error(L, r);
  } else {
    curl_off_t us = 0;
    long connects = 0;

    push_head(L, r);
    lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.len);
    lua_setfield(L, -2, "body");
    curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &us);
    lua_pushnumber(L, (lua_Number)us / 1e6);
    lua_setfield(L, -2, "time");
    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects);
    lua_pushboolean(L, connects > 0);
    lua_setfield(L, -2, "new_connection");
  }
  lua_setiuservalue(L, idx, UV_RESPONSE);
  r->built = 1;
  buf_free(&r->body);
  buf_free(&r->head);
}

/* [-0, +1|+2] resp, or nil and the error object. */
static int push_outcome(lua_State *L, int idx, struct kl_request *r)
{
  build_outcome(L, idx, r);
  lua_getiuservalue(L, idx, UV_RESPONSE);
  if(r->result == CURLE_OK)
    return 1;
  luaL_pushfail(L);
  lua_insert(L, -2);
  return 2;
}

/* ---- building a request ---- */

static struct kl_request *check_request(lua_State *L, int idx)
{
  return luaL_checkudata(L, idx, REQUEST_MT);
}

static struct kl_multi *check_multi(lua_State *L, int idx)
{
  struct kl_multi *m = luaL_checkudata(L, idx, MULTI_MT);

  if(!m->handle)
    luaL_error(L, "attempt to use a closed multi");
  return m;
}

static int opt_error(lua_State *L, const char *key, const char *want)
{
  return luaL_error(L, "http.request: option '%s' must be %s, not %s", key,
                    want, luaL_typename(L, -1));
}

/* The string value at the top of the stack, without embedded NULs. */
static const char *opt_string(lua_State *L, const char *key, size_t *lenp)
{
  size_t len;
  const char *s;

  if(lua_type(L, -1) != LUA_TSTRING)
    opt_error(L, key, "a string");
  s = lua_tolstring(L, -1, &len);
  if(!lenp && strlen(s) != len)
    luaL_error(L, "http.request: option '%s' contains a NUL byte", key);
  if(lenp)
    *lenp = len;
  return s;
}

static long opt_ms(lua_State *L, const char *key)
{
  lua_Number s;

  if(lua_type(L, -1) != LUA_TNUMBER)
    opt_error(L, key, "a number of seconds");
  s = lua_tonumber(L, -1);
  if(!(s >= 0 && s < 1e9))
    luaL_error(L,
               "http.request: option '%s' must be between 0 and 1e9 "
               "seconds",
               key);
  if(s > 0 && s < 0.001)
    return 1;
  return (long)(s * 1000 + 0.5);
}

static int is_tchar(int c)
{
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Append "Name: value" to r->headers. Names must be tokens and values must
 * not break lines (no header injection); errors name the header, never its
 * value. */
static void add_header(lua_State *L,
                       struct kl_request *r,
                       const char *name,
                       size_t nlen,
                       const char *value,
                       size_t vlen)
{
  char small[512];
  char *line = small;
  size_t i;
  struct curl_slist *l;

  if(nlen == 0)
    luaL_error(L, "http.request: empty header name");
  for(i = 0; i < nlen; i++)
    if(!is_tchar((unsigned char)name[i]))
      luaL_error(L, "http.request: invalid header name '%s'", name);
  for(i = 0; i < vlen; i++)
    if(value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
      luaL_error(L,
                 "http.request: header '%s' has a line break or NUL "
                 "in its value",
                 name);
  if(nlen + vlen + 3 > sizeof(small)) {
    line = malloc(nlen + vlen + 3);
    if(!line)
      luaL_error(L, "not enough memory");
  }
  memcpy(line, name, nlen);
  if(vlen) {
    line[nlen] = ':';
    line[nlen + 1] = ' ';
    memcpy(line + nlen + 2, value, vlen);
    line[nlen + 2 + vlen] = '\0';
  } else { /* "Name;" sends an empty header; "Name:" would remove it */
    line[nlen] = ';';
    line[nlen + 1] = '\0';
  }
  l = curl_slist_append(r->headers, line);
  if(line != small)
    free(line);
  if(!l)
    luaL_error(L, "not enough memory");
  r->headers = l;
}

#define HAS_EXPECT 1
#define HAS_CONTENT_TYPE 2

/* [-0, +0] The headers option: a table name -> string (or number). Returns
 * HAS_* flags for the headers curl would otherwise add itself. */
static int set_headers(lua_State *L, struct kl_request *r)
{
  int t = lua_gettop(L);
  int flags = 0;

  if(!lua_istable(L, t))
    opt_error(L, "headers", "a table");
  lua_pushnil(L);
  while(lua_next(L, t)) {
    size_t nlen;
    size_t vlen;
    const char *name;
    const char *value;

    if(lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "http.request: header names must be strings, not %s",
                 luaL_typename(L, -2));
    name = lua_tolstring(L, -2, &nlen);
    if(strlen(name) != nlen)
      luaL_error(L, "http.request: invalid header name");
    if(strcasecmp(name, "expect") == 0)
      flags |= HAS_EXPECT;
    else if(strcasecmp(name, "content-type") == 0)
      flags |= HAS_CONTENT_TYPE;
    if(lua_type(L, -1) == LUA_TTABLE) { /* a list: one line per value */
      lua_Integer i;
      lua_Integer n = (lua_Integer)lua_rawlen(L, -1);

      for(i = 1; i <= n; i++) {
        int vt = lua_rawgeti(L, -1, i);

        if(vt != LUA_TSTRING && vt != LUA_TNUMBER)
          luaL_error(L,
                     "http.request: header '%s' values must be strings, "
                     "not %s",
                     name, luaL_typename(L, -1));
        value = lua_tolstring(L, -1, &vlen);
        add_header(L, r, name, nlen, value, vlen);
        lua_pop(L, 1);
      }
    } else {
      if(lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        luaL_error(L, "http.request: header '%s' must be a string, not %s",
                   name, luaL_typename(L, -1));
      value = lua_tolstring(L, -1, &vlen); /* a number becomes a string */
      add_header(L, r, name, nlen, value, vlen);
    }
    lua_pop(L, 1);
  }
  return flags;
}

static void
set_blob(lua_State *L, struct kl_request *r, CURLoption opt, const char *key)
{
  struct curl_blob blob;
  size_t len;

  blob.data = (void *)opt_string(L, key, &len);
  blob.len = len;
  blob.flags = CURL_BLOB_COPY; /* curl keeps its own copy in memory */
  if(curl_easy_setopt(r->easy, opt, &blob) != CURLE_OK)
    luaL_error(L,
               "http.request: option '%s' is not supported by this "
               "libcurl",
               key);
}

static void set_connect_to(lua_State *L, struct kl_request *r)
{
  int t = lua_gettop(L);
  lua_Integer i;
  lua_Integer n;

  if(!lua_istable(L, t))
    opt_error(L, "connect_to", "a list of strings");
  n = (lua_Integer)lua_rawlen(L, t);
  for(i = 1; i <= n; i++) {
    struct curl_slist *l;

    if(lua_rawgeti(L, t, i) != LUA_TSTRING)
      luaL_error(L, "http.request: connect_to[%d] must be a string, not %s",
                 (int)i, luaL_typename(L, -1));
    l = curl_slist_append(r->connect_to, lua_tostring(L, -1));
    if(!l)
      luaL_error(L, "not enough memory");
    r->connect_to = l;
    lua_pop(L, 1);
  }
  curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, r->connect_to);
}

static void append_line(lua_State *L, struct kl_request *r, const char *line)
{
  struct curl_slist *l = curl_slist_append(r->headers, line);

  if(!l)
    luaL_error(L, "not enough memory");
  r->headers = l;
}

/* Options every request gets; the share comes from upvalue 1. */
static void set_defaults(struct kl_request *r)
{
  CURL *e = r->easy;

  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_SHARE, r->share->handle);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)r);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "kubelua/" KL_VERSION);
}

/* [-0, +1] http.request(opts): a new Request, not started. Misuse (wrong
 * option types, unknown options, header injection) raises. */
static int l_request(lua_State *L)
{
  struct kl_share **sp = luaL_checkudata(L, lua_upvalueindex(1), SHARE_MT);
  struct kl_request *r;
  const char *method = NULL;
  int has_url = 0;
  int has_body = 0;
  int hflags = 0;
  int has_ca = 0;
  int insecure = 0;

  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  r = lua_newuserdatauv(L, sizeof(*r), 2);
  memset(r, 0, sizeof(*r));
  r->self_ref = LUA_NOREF;
  r->closed = 1; /* nothing to release yet */
  luaL_setmetatable(L, REQUEST_MT);
  /* stack: opts, req */
  if(!*sp)
    return luaL_error(L, "kubelua.http is shut down");
  r->share = *sp;
  r->share->refs++;
  r->closed = 0;
  r->easy = curl_easy_init();
  if(!r->easy)
    return luaL_error(L, "curl_easy_init failed");
  set_defaults(r);

  lua_pushnil(L);
  while(lua_next(L, 1)) {
    /* stack: opts, req, key, value */
    const char *k;

    if(lua_type(L, -2) != LUA_TSTRING)
      return luaL_error(L, "http.request: option names must be strings");
    k = lua_tostring(L, -2);
    if(strcmp(k, "url") == 0) {
      curl_easy_setopt(r->easy, CURLOPT_URL, opt_string(L, k, NULL));
      has_url = 1;
    } else if(strcmp(k, "method") == 0) {
      const char *c;

      method = opt_string(L, k, NULL);
      for(c = method; *c; c++)
        if(!is_tchar((unsigned char)*c))
          return luaL_error(L, "http.request: invalid method");
      if(!*method)
        return luaL_error(L, "http.request: empty method");
    } else if(strcmp(k, "headers") == 0) {
      hflags = set_headers(L, r);
    } else if(strcmp(k, "body") == 0) {
      size_t len;
      const char *b = opt_string(L, k, &len);

      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 2, UV_BODY); /* curl reads it in place */
      curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
      curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, b);
      has_body = 1;
    } else if(strcmp(k, "timeout") == 0) {
      curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, opt_ms(L, k));
    } else if(strcmp(k, "connect_timeout") == 0) {
      curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, opt_ms(L, k));
    } else if(strcmp(k, "ca_data") == 0) {
      set_blob(L, r, CURLOPT_CAINFO_BLOB, k);
      has_ca = 1;
    } else if(strcmp(k, "ca_file") == 0) {
      curl_easy_setopt(r->easy, CURLOPT_CAINFO, opt_string(L, k, NULL));
      has_ca = 1;
    } else if(strcmp(k, "cert_data") == 0) {
      set_blob(L, r, CURLOPT_SSLCERT_BLOB, k);
      curl_easy_setopt(r->easy, CURLOPT_SSLCERTTYPE, "PEM");
    } else if(strcmp(k, "cert_file") == 0) {
      curl_easy_setopt(r->easy, CURLOPT_SSLCERT, opt_string(L, k, NULL));
    } else if(strcmp(k, "key_data") == 0) {
      set_blob(L, r, CURLOPT_SSLKEY_BLOB, k);
      curl_easy_setopt(r->easy, CURLOPT_SSLKEYTYPE, "PEM");
    } else if(strcmp(k, "key_file") == 0) {
      curl_easy_setopt(r->easy, CURLOPT_SSLKEY, opt_string(L, k, NULL));
    } else if(strcmp(k, "insecure") == 0) {
      if(!lua_isboolean(L, -1))
        return opt_error(L, k, "a boolean");
      insecure = lua_toboolean(L, -1);
    } else if(strcmp(k, "connect_to") == 0) {
      set_connect_to(L, r);
    } else if(strcmp(k, "proxy") == 0) {
      if(lua_isboolean(L, -1)) {
        if(lua_toboolean(L, -1))
          return opt_error(L, k, "a URL string or false");
        curl_easy_setopt(r->easy, CURLOPT_PROXY, ""); /* no env proxies */
      } else {
        curl_easy_setopt(r->easy, CURLOPT_PROXY, opt_string(L, k, NULL));
      }
    } else if(strcmp(k, "stream") == 0) {
      if(!lua_isboolean(L, -1))
        return opt_error(L, k, "a boolean");
      r->stream = lua_toboolean(L, -1) ? 1 : 0;
    } else {
      return luaL_error(L, "http.request: unknown option '%s'", k);
    }
    lua_pop(L, 1);
  }
  if(!has_url)
    return luaL_error(L, "http.request: option 'url' is required");
  if(insecure) {
    curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if(has_ca) {
    curl_easy_setopt(r->easy, CURLOPT_CAPATH, NULL); /* only the given CA */
  }
  if(has_body && !(hflags & HAS_EXPECT))
    append_line(L, r, "Expect:"); /* no 100-continue round trip */
  if(has_body && !(hflags & HAS_CONTENT_TYPE))
    append_line(L, r, "Content-Type:"); /* not curl's form default */
  if(r->headers)
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
  if(method && strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
  } else if(method && !(strcmp(method, "GET") == 0 && !has_body) &&
            !(strcmp(method, "POST") == 0 && has_body)) {
    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    if(!has_body &&
       (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0)) {
      curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
      curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
    }
  }
  return 1;
}

/* ---- Request methods ---- */

static void
multi_add(lua_State *L, struct kl_multi *m, int ridx, struct kl_request *r)
{
  CURLMcode mc;

  if(r->closed)
    luaL_error(L, "attempt to use a closed request");
  if(r->multi || r->done)
    luaL_error(L, "request already started");
  {
    char origin[MAX_ORIGIN];
    char *url = NULL;

    int h1;

    curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
    /* plain http:// is HTTP/1.1 (no h2c); an https origin is HTTP/1.1
     * once one of its answers said so */
    h1 = !url_origin(url, origin) || h1_find(m, origin) >= 0;
    curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, h1 ? 0L : 1L);
    /* A stream (a watch) is stopped by closing it. Over HTTP/1.1 that
     * closes its connection: give it a connection of its own, never a
     * pooled keep-alive one, and never pool it, so that the next request
     * still finds the pooled one. Over HTTP/2 (or an origin not seen yet)
     * it shares the connection: closing it resets only its stream. */
    curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, r->stream && h1 ? 1L : 0L);
    curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, r->stream && h1 ? 1L : 0L);
  }
  mc = curl_multi_add_handle(m->handle, r->easy);
  if(mc != CURLM_OK)
    luaL_error(L, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
  r->in_curl = 1;
  r->multi = m;
  r->prev = NULL;
  r->next = m->attached;
  if(m->attached)
    m->attached->prev = r;
  m->attached = r;
  m->count++;
  lua_pushvalue(L, ridx);
  r->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static struct kl_multi *default_multi(lua_State *L, struct kl_share *share);

/* [-0, +1|+2] req:perform(): runs the request on the default multi until
 * it finishes; resp, or nil and err. */
static int req_perform(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);
  struct kl_multi *m;
  struct kl_intr in;

  lua_settop(L, 1);
  if(r->built || (r->done && !r->multi && !r->closed))
    return push_outcome(L, 1, r);
  if(r->closed)
    return luaL_error(L, "attempt to use a closed request");
  m = default_multi(L, r->share);
  lua_pop(L, 1);
  multi_add(L, m, 1, r);
  intr_start(L, &in);
  for(;;) {
    int running;

    curl_multi_perform(m->handle, &running);
    multi_drain(m);
    if(r->done)
      break;
    curl_multi_poll(m->handle, NULL, 0, POLL_SLICE_MS, NULL);
    if(intr_check(L, &in)) {
      request_detach(L, r);
      return luaL_error(L, "interrupted!");
    }
  }
  request_detach(L, r); /* out of the ready list; drops self_ref */
  return push_outcome(L, 1, r);
}

/* [-0, +0] req:close(): idempotent; detaches a request in flight. */
static int req_close(lua_State *L)
{
  request_release(L, check_request(L, 1));
  return 0;
}

/* [-0, +1] req:done(): finished, or closed. */
static int req_done(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);

  lua_pushboolean(L, r->done || r->closed);
  return 1;
}

/* [-0, +1|+2] req:response(): resp, or nil and err, once done. */
static int req_response(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);

  lua_settop(L, 1);
  if(r->built) {
    lua_getiuservalue(L, 1, UV_RESPONSE);
    if(r->result == CURLE_OK)
      return 1;
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  if(r->closed)
    return kl_fail(L, "cancelled", 0, "request closed before it finished");
  if(!r->done)
    return luaL_error(L, "response() called before the request finished");
  return push_outcome(L, 1, r);
}

/* [-0, +1] req:head(): status, http_version, headers and warnings
 * received so far (stream mode), or nil before the headers arrived. */
static int req_head(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);
  long status = 0;

  if(r->built || r->closed) {
    luaL_pushfail(L);
    return 1;
  }
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  if(!status) {
    luaL_pushfail(L);
    return 1;
  }
  push_head(L, r);
  return 1;
}

/* [-0, +1] req:read(): stream mode; the body bytes received since the
 * last read ("" if none). */
static int req_read(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);

  if(!r->stream)
    return luaL_error(L, "read() needs a request made with stream = true");
  lua_pushlstring(L, r->body.p ? r->body.p : "", r->body.len);
  r->body.len = 0;
  if(r->paused && r->easy) {
    r->paused = 0;
    curl_easy_pause(r->easy, CURLPAUSE_CONT); /* may deliver data at once */
  }
  return 1;
}

/* [-0, +2] req:buffered(): stream mode; the number of unread body bytes
 * held in C and whether the transfer is paused on them (backpressure), so
 * that callers and tests can wait for a state instead of guessing a delay. */
static int req_buffered(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);

  if(!r->stream)
    return luaL_error(L, "buffered() needs a request made with stream = true");
  lua_pushinteger(L, (lua_Integer)r->body.len);
  lua_pushboolean(L, r->paused);
  return 2;
}

static int req_gc(lua_State *L)
{
  request_release(L, luaL_checkudata(L, 1, REQUEST_MT));
  return 0;
}

static int req_tostring(lua_State *L)
{
  struct kl_request *r = check_request(L, 1);
  const char *state = r->closed  ? "closed"
                      : r->done  ? "done"
                      : r->multi ? "in flight"
                                 : "idle";

  lua_pushfstring(L, "%s (%s): %p", REQUEST_MT, state, (void *)r);
  return 1;
}

/* ---- Multi ---- */

static void multi_release(lua_State *L, struct kl_multi *m)
{
  while(m->attached)
    request_detach(L, m->attached);
  m->ready_head = m->ready_tail = NULL;
  if(m->handle)
    curl_multi_cleanup(m->handle);
  m->handle = NULL;
  share_release(m->share);
  m->share = NULL;
}

/* [-0, +0] Apply the options table at index opts (0: none) to m; with
 * defaults = 1, unset options get their defaults. */
static void
multi_options(lua_State *L, struct kl_multi *m, int opts, int defaults)
{
  long max_host = DEFAULT_MAX_HOST_CONNECTIONS;
  long max_total = 0;
  int set_host = defaults;
  int set_total = defaults;

  if(opts) {
    lua_pushnil(L);
    while(lua_next(L, opts)) {
      const char *k =
          lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      long *dst = NULL;

      if(strcmp(k, "max_host_connections") == 0) {
        dst = &max_host;
        set_host = 1;
      } else if(strcmp(k, "max_total_connections") == 0) {
        dst = &max_total;
        set_total = 1;
      } else {
        luaL_error(L, "http.multi: unknown option '%s'", k);
      }
      if(!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
         lua_tointeger(L, -1) > 100000)
        luaL_error(L,
                   "http.multi: option '%s' must be an integer from 0 "
                   "to 100000",
                   k);
      *dst = (long)lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  }
  if(set_host)
    curl_multi_setopt(m->handle, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  if(set_total)
    curl_multi_setopt(m->handle, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total);
}

/* [-0, +1] A new Multi; opts may set max_host_connections (default 32)
 * and max_total_connections (default 0: no limit). */
static void multi_new(lua_State *L, int opts, struct kl_share *share)
{
  struct kl_multi *m = lua_newuserdatauv(L, sizeof(*m), 0);

  memset(m, 0, sizeof(*m));
  luaL_setmetatable(L, MULTI_MT);
  if(!share) {
    luaL_error(L, "kubelua.http is shut down");
    return;
  }
  m->share = share;
  share->refs++;
  m->handle = curl_multi_init();
  if(!m->handle) {
    luaL_error(L, "curl_multi_init failed");
    return;
  }
  curl_multi_setopt(m->handle, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  multi_options(L, m, opts, 1);
}

/* [-0, +1] http.multi([opts]) */
static int l_multi(lua_State *L)
{
  struct kl_share **sp = luaL_checkudata(L, lua_upvalueindex(1), SHARE_MT);

  if(!lua_isnoneornil(L, 1))
    luaL_checktype(L, 1, LUA_TTABLE);
  multi_new(L, lua_istable(L, 1) ? 1 : 0, *sp);
  return 1;
}

/* [-0, +1] Push the default multi, creating it on first use. */
static struct kl_multi *default_multi(lua_State *L, struct kl_share *share)
{
  if(lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_MULTI_KEY) != LUA_TUSERDATA) {
    lua_pop(L, 1);
    multi_new(L, 0, share);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_MULTI_KEY);
  }
  return check_multi(L, -1);
}

/* [-0, +1] http.default_multi([opts]): the shared multi; opts change its
 * connection limits from now on. */
static int l_default_multi(lua_State *L)
{
  struct kl_share **sp = luaL_checkudata(L, lua_upvalueindex(1), SHARE_MT);
  struct kl_multi *m;

  if(!lua_isnoneornil(L, 1))
    luaL_checktype(L, 1, LUA_TTABLE);
  m = default_multi(L, *sp);
  if(lua_istable(L, 1))
    multi_options(L, m, 1, 0);
  return 1;
}

/* [-0, +0] m:add(req): starts the request. */
static int multi_add_l(lua_State *L)
{
  struct kl_multi *m = check_multi(L, 1);
  struct kl_request *r = check_request(L, 2);

  multi_add(L, m, 2, r);
  return 0;
}

/* [-0, +1] m:wait([ms]): runs curl until at least one request finished or
 * (stream) got data, or ms elapsed; returns the list of those requests. With
 * no ms it waits as long as requests are in flight; with ms and nothing in
 * flight it sleeps (a timer for the scheduler). */
static int multi_wait(lua_State *L)
{
  struct kl_multi *m = check_multi(L, 1);
  lua_Number ms = luaL_optnumber(L, 2, -1);
  double deadline = ms >= 0 ? mono_now() + ms / 1000.0 : 0;
  struct kl_request *r;
  struct kl_request *list;
  struct kl_intr in;
  int i = 0;

  intr_start(L, &in);
  for(;;) {
    int running;
    long slice = POLL_SLICE_MS;

    if(m->count > 0) {
      curl_multi_perform(m->handle, &running);
      multi_drain(m);
    }
    if(m->ready_head)
      break;
    if(ms < 0 && m->count == 0)
      break;
    if(ms >= 0) {
      double left = (deadline - mono_now()) * 1000.0;

      if(left <= 0)
        break;
      if(left < slice)
        slice = (long)left + 1;
    }
    curl_multi_poll(m->handle, NULL, 0, (int)slice, NULL);
    if(intr_check(L, &in))
      break;
  }
  list = m->ready_head;
  m->ready_head = m->ready_tail = NULL;
  lua_createtable(L, 4, 0);
  for(r = list; r;) {
    struct kl_request *next = r->ready_next;

    r->queued = 0;
    r->ready_next = NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->self_ref);
    lua_rawseti(L, -2, ++i);
    if(r->done)
      request_detach(L, r); /* delivered: Lua owns it again */
    r = next;
  }
  return 1;
}

/* [-0, +1] m:pending(): requests in flight or not yet handed out. */
static int multi_pending(lua_State *L)
{
  struct kl_multi *m = luaL_checkudata(L, 1, MULTI_MT);

  lua_pushinteger(L, m->count);
  return 1;
}

static int multi_close(lua_State *L)
{
  multi_release(L, luaL_checkudata(L, 1, MULTI_MT));
  return 0;
}

static int multi_tostring(lua_State *L)
{
  struct kl_multi *m = luaL_checkudata(L, 1, MULTI_MT);

  lua_pushfstring(L, "%s (%d pending): %p", MULTI_MT, m->count, (void *)m);
  return 1;
}

/* ---- module functions ---- */

/* [-0, +1] http.now(): monotonic seconds, for timers. */
static int l_now(lua_State *L)
{
  lua_pushnumber(L, mono_now());
  return 1;
}

/* [-0, +0] http.sleep(seconds): blocks; returns early on SIGINT. */
static int l_sleep(lua_State *L)
{
  lua_Number s = luaL_checknumber(L, 1);
  double deadline = mono_now() + s;
  struct kl_intr in;

  intr_start(L, &in);
  while(s > 0) {
    double left = deadline - mono_now();
    struct timespec ts;

    if(left <= 0)
      break;
    if(left > POLL_SLICE_MS / 1000.0)
      left = POLL_SLICE_MS / 1000.0;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
    if(intr_check(L, &in))
      break;
  }
  return 0;
}

/* [-0, +1] http.curl_version(): the curl_version_info fields we rely on. */
static int l_curl_version(lua_State *L)
{
  curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

  lua_createtable(L, 0, 4);
  lua_pushstring(L, v->version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, v->ssl_version ? v->ssl_version : "");
  lua_setfield(L, -2, "ssl");
  lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
  lua_setfield(L, -2, "http2");
  return 1;
}

static const luaL_Reg request_methods[] = {
    {"perform", req_perform}, {"close", req_close},
    {"done", req_done},       {"response", req_response},
    {"read", req_read},       {"buffered", req_buffered},
    {"head", req_head},       {NULL, NULL}};

static const luaL_Reg multi_methods[] = {{"add", multi_add_l},
                                         {"wait", multi_wait},
                                         {"pending", multi_pending},
                                         {"close", multi_close},
                                         {NULL, NULL}};

/* [-0, +0] Register a metatable with methods, __index, __gc, __close. */
static void new_class(lua_State *L,
                      const char *name,
                      const luaL_Reg *methods,
                      lua_CFunction gc,
                      lua_CFunction tostring)
{
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

int luaopen_kubelua_http(lua_State *L)
{
  static int curl_ready;

  if(!curl_ready) {
    if(curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "curl_global_init failed");
    curl_ready = 1;
  }
  new_class(L, REQUEST_MT, request_methods, req_gc, req_tostring);
  new_class(L, MULTI_MT, multi_methods, multi_close, multi_tostring);
  luaL_newmetatable(L, SHARE_MT);
  lua_pushcfunction(L, share_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_createtable(L, 0, 8);
  share_new(L);
  /* stack: M, share */
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_request, 1);
  lua_setfield(L, -3, "request");
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, l_multi, 1);
  lua_setfield(L, -3, "multi");
  lua_pushcclosure(L, l_default_multi, 1);
  lua_setfield(L, -2, "default_multi");
  lua_pushcfunction(L, l_now);
  lua_setfield(L, -2, "now");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_curl_version);
  lua_setfield(L, -2, "curl_version");
  kl_error_class(L);
  lua_setfield(L, -2, "Error");
  return 1;
}
