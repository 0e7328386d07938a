/* Lifecycle of kubelua.http userdata: close twice, close mid-flight, collect
 * an idle request, collect a finished one, lua_close with requests in
 * flight (in a user multi, in the default multi, finished but never handed
 * out). libcurl's memory goes through counting allocators
 * (curl_global_init_mem), so every case also checks that each curl
 * allocation was given back; ASan/LSan check the rest in the sanitizer
 * build. The peer is a forked loopback server: "/hang" never answers,
 * anything else gets a short 200. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "unitcheck.h"

/* ---- counting allocators for libcurl ---- */

static long curl_blocks; /* live allocations made by libcurl */

static void *c_malloc(size_t n)
{
  void *p = malloc(n);

  if(p)
    curl_blocks++;
  return p;
}

static void c_free(void *p)
{
  if(p)
    curl_blocks--;
  free(p);
}

static void *c_realloc(void *p, size_t n)
{
  void *q = realloc(p, n);

  if(!p && q)
    curl_blocks++;
  return q;
}

static char *c_strdup(const char *s)
{
  char *p = strdup(s);

  if(p)
    curl_blocks++;
  return p;
}

static void *c_calloc(size_t a, size_t b)
{
  void *p = calloc(a, b);

  if(p)
    curl_blocks++;
  return p;
}

/* ---- the loopback peer ---- */

static pid_t peer_pid;

static void peer_loop(int lfd)
{
  int held[64];
  int nheld = 0;

  for(;;) {
    char buf[4096];
    size_t len = 0;
    int fd = accept(lfd, NULL, NULL);

    if(fd < 0)
      continue;
    if(nheld == 64) { /* keep the oldest held sockets open */
      close(held[63]);
      nheld--;
    }
    while(len < sizeof(buf) - 1) {
      ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

      if(n <= 0)
        break;
      len += (size_t)n;
      buf[len] = '\0';
      if(strstr(buf, "\r\n\r\n"))
        break;
    }
    buf[len] = '\0';
    if(strstr(buf, " /hang ")) {
      held[nheld++] = fd; /* never answered, closed when the test kills us */
    } else {
      static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\nok";
      ssize_t w = write(fd, resp, sizeof(resp) - 1);

      (void)w;
      close(fd);
    }
  }
}

static int peer_start(void)
{
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);

  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if(lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
     listen(lfd, 64) != 0 ||
     getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
    perror("peer socket");
    exit(2);
  }
  peer_pid = fork();
  if(peer_pid < 0) {
    perror("fork");
    exit(2);
  }
  if(peer_pid == 0) {
    alarm(60); /* never outlive the test */
    peer_loop(lfd);
    _exit(0);
  }
  close(lfd);
  return ntohs(a.sin_port);
}

/* ---- helpers ---- */

static int port;

/* A state with kubelua.http loaded as global `http` and the peer's base
 * URL as global `base`. */
static lua_State *new_state(void)
{
  lua_State *L = unit_lua_state();

  unit_require(L, "kubelua.http");
  lua_setglobal(L, "http");
  lua_pushfstring(L, "http://127.0.0.1:%d", port);
  lua_setglobal(L, "base");
  return L;
}

/* Run a chunk; on error print it and count a failure. */
#define run(L, code) run_at(__FILE__, __LINE__, (L), (code))

static int run_at(const char *file, int line, lua_State *L, const char *code)
{
  unit_checks++;
  if(luaL_dostring(L, code) != LUA_OK) {
    unit_fail_at(file, line, lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

static long long global_int(lua_State *L, const char *name)
{
  long long v;

  lua_getglobal(L, name);
  v = (long long)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

static const char *global_str(lua_State *L, const char *name)
{
  const char *s;

  lua_getglobal(L, name);
  s = lua_tostring(L, -1);
  lua_pop(L, 1);
  return s; /* the global keeps it alive */
}

static void full_gc(lua_State *L)
{
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCCOLLECT);
}

UNITTEST_START
{
  long base_blocks;
  lua_State *L;

  if(curl_global_init_mem(CURL_GLOBAL_DEFAULT, c_malloc, c_free, c_realloc,
                          c_strdup, c_calloc) != CURLE_OK) {
    fprintf(stderr, "curl_global_init_mem failed\n");
    return 2;
  }
  port = peer_start();
  base_blocks = curl_blocks;

  /* 1. close twice, then every method still behaves */
  L = new_state();
  run(L, "r = http.request{ url = base .. '/x' }\n"
         "r:close() r:close()\n"
         "done = tostring(r:done())\n"
         "local resp, err = r:response()\n"
         "kind = err.kind\n"
         "state = tostring(r):match('%((.-)%)')\n"
         "ok, msg = pcall(r.perform, r)\n"
         "msg = tostring(msg)");
  check_str(global_str(L, "done"), "true", "done() after close");
  check_str(global_str(L, "kind"), "cancelled", "response() after close");
  check_str(global_str(L, "state"), "closed", "tostring after close");
  fail_unless(strstr(global_str(L, "msg"), "attempt to use a closed request"),
              "perform() after close raises");

  /* 2. an idle request is collected and gives back its easy handle */
  {
    long before;

    full_gc(L);
    before = curl_blocks;
    run(L, "do local r = http.request{ url = base .. '/x', "
           "headers = { A = 'b', C = { 'd', 'e' } }, "
           "connect_to = { 'a:1:b:2' } } end");
    fail_unless(curl_blocks > before, "a request allocates in curl");
    full_gc(L);
    check_int(curl_blocks, before,
              "collected idle request freed its curl "
              "memory");
  }

  /* 3. close mid-flight detaches from the multi; a second close is a no-op;
   * __close does the same release */
  run(L, "m = http.multi()\n"
         "r = http.request{ url = base .. '/hang' }\n"
         "m:add(r)\n"
         "assert(#m:wait(100) == 0)\n"
         "p1 = m:pending()\n"
         "r:close()\n"
         "p2 = m:pending()\n"
         "r:close()\n"
         "do local r2 <close> = http.request{ url = base .. '/hang' }\n"
         "  m:add(r2) m:wait(50) p3 = m:pending() end\n"
         "p4 = m:pending()");
  check_int(global_int(L, "p1"), 1, "in flight before close");
  check_int(global_int(L, "p2"), 0, "detached by close");
  check_int(global_int(L, "p3"), 1, "in flight in the block");
  check_int(global_int(L, "p4"), 0, "detached by __close");

  /* 4. a request in flight is not collected (self_ref), even when Lua
   * drops it; it is handed out by wait once finished, then collectable */
  run(L, "do local r = http.request{ url = base .. '/ok' }; m:add(r) end\n"
         "collectgarbage() collectgarbage()\n"
         "got = {}\n"
         "for _ = 1, 50 do\n"
         "  for _, r in ipairs(m:wait(100)) do got[#got + 1] = r end\n"
         "  if #got > 0 then break end\n"
         "end\n"
         "status = got[1] and got[1]:response().status or -1\n"
         "body = got[1] and got[1]:response().body\n"
         "got = nil");
  check_int(global_int(L, "status"), 200,
            "dropped in-flight request "
            "finished");
  check_str(global_str(L, "body"), "ok", "its body");

  /* 5. a finished request is collected and frees its handle */
  {
    long before;

    full_gc(L);
    run(L, "assert(http.request{ url = base .. '/warm' }:perform())");
    full_gc(L);
    before = curl_blocks;
    run(L, "do local r = http.request{ url = base .. '/ok' }\n"
           "  local resp = assert(r:perform())\n"
           "  fin = resp.status end");
    check_int(global_int(L, "fin"), 200, "perform");
    full_gc(L);
    check_int(curl_blocks, before,
              "collected finished request freed its "
              "curl memory");
  }

  /* 6. lua_close with requests in flight: in a user multi, in the default
   * multi, finished but never handed out, and a closed multi whose requests
   * are still referenced */
  run(L, "m2 = http.multi{ max_host_connections = 2 }\n"
         "a = http.request{ url = base .. '/hang' }\n"
         "m2:add(a)\n"
         "b = http.request{ url = base .. '/hang' }\n"
         "http.default_multi():add(b)\n"
         "f = http.request{ url = base .. '/ok' }\n"
         "http.default_multi():add(f)\n"
         "assert(http.request{ url = base .. '/ok' }:perform())\n"
         "m2:wait(50)\n"
         "m3 = http.multi()\n"
         "c = http.request{ url = base .. '/hang' }\n"
         "m3:add(c) m3:wait(20) m3:close()\n"
         "cdone = tostring(c:done())\n"
         "p_default = http.default_multi():pending()");
  check_str(global_str(L, "cdone"), "false",
            "closing a multi detaches (request not done)");
  check_int(global_int(L, "p_default"), 2, "b in flight, f undelivered");
  lua_close(L);
  check_int(curl_blocks, base_blocks, "lua_close freed all curl memory");

  /* 7. lua_close in the middle of a coroutine that waits */
  L = new_state();
  run(L, "co = coroutine.create(function()\n"
         "  local r <close> = http.request{ url = base .. '/hang' }\n"
         "  http.default_multi():add(r)\n"
         "  coroutine.yield()\n"
         "end)\n"
         "assert(coroutine.resume(co))\n"
         "http.default_multi():wait(50)");
  lua_close(L);
  check_int(curl_blocks, base_blocks, "lua_close with a suspended task");

  /* 8. errors raised while building a request leak nothing */
  L = new_state();
  full_gc(L);
  {
    long before = curl_blocks;

    run(L, "for _, o in ipairs{\n"
           "  { url = base, headers = { A = 'x\\ny' } },\n"
           "  { url = base, headers = { A = 'ok' }, timeout = -1 },\n"
           "  { url = base, connect_to = { 'a:1:b:2', 3 } },\n"
           "  { headers = { A = 'b' } },\n"
           "} do assert(not pcall(http.request, o)) end");
    full_gc(L);
    check_int(curl_blocks, before,
              "failed http.request calls freed their "
              "curl memory");
  }
  lua_close(L);
  check_int(curl_blocks, base_blocks, "all states closed");

  kill(peer_pid, SIGKILL);
  waitpid(peer_pid, NULL, 0);
}
UNITTEST_STOP
