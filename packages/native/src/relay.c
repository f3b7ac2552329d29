// TURN forwarding fast path (RFC 8656) for packages/server/src/turn: one thread, epoll over the
// UDP listener(s) and every relay socket, recvmmsg/sendmmsg in batches. It forwards only what
// matches the allocation, permission and channel tables that TypeScript writes (setAllocation);
// everything else (STUN requests, unknown clients, TCP-client allocations, odd packets) goes up
// to TypeScript through a thread-safe function, batched. All policy stays in TypeScript: this file
// holds no credentials and makes no decision TypeScript has not written into a table.
//
// Locking: one mutex guards the tables and the relay fd table. The thread holds it while it
// receives, decides and sends one batch; the JavaScript thread holds it while it edits a table,
// so once deleteAllocation() returns no packet of that allocation is forwarded any more.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "turn_frame.h"

#define BATCH 64
// Headroom before received data: a Data indication header (20) + XOR-PEER-ADDRESS (12) + DATA
// attribute header (4), so a peer datagram becomes a Data indication in place.
#define HEAD 36
#define SLOT (HEAD + 65536 + 8)
#define MAX_LISTENERS 8
#define HASH_BUCKETS 16384
#define MAX_UP_EVENTS 16384
#define MAX_UP_BYTES (16u << 20)
#define MAGIC 0x2112a442u

enum { EV_WAKE = 0, EV_LISTENER = 1, EV_RELAY = 2 };
enum { UP_CLIENT = 0, UP_PEER = 1 };

typedef struct {
  uint32_t ip;  // network order
  double exp;   // ms, Date.now() clock
} Perm;

typedef struct {
  uint16_t num;
  uint16_t port;  // network order
  uint32_t ip;    // network order
  double exp;
} Chan;

typedef struct Alloc {
  uint16_t relay_port;  // host order
  uint32_t client_ip;   // network order
  uint16_t client_port;  // network order
  bool tcp;
  uint32_t group;
  double exp;
  Perm *perms;
  uint32_t nperms;
  Chan *chans;
  uint32_t nchans;
  double bucket, bucket_at;
  double packets;
  struct Alloc *hnext;
} Alloc;

typedef struct UpEvent {
  struct UpEvent *next;
  uint8_t kind;
  uint16_t relay_port;
  uint32_t ip;  // host order
  uint16_t port;
  uint32_t len;
  uint8_t data[];
} UpEvent;

typedef struct {
  int fd;
  struct sockaddr_in to;
  uint8_t *buf;
  uint32_t len;
} Out;

typedef struct {
  napi_env env;
  int refs;
  bool closed;
  bool hook;
  int epfd, evfd;
  int lfd[MAX_LISTENERS];
  int nl;
  uint16_t lport;
  uint32_t relay_ip;  // network order
  double cap;         // bytes/s
  // Datagrams to relay_ip on a port without a live allocation are dropped (the server's own
  // services), unless this is set: tests on loopback, where every peer is on the relay's IP.
  bool self_ports_open;
  pthread_mutex_t mu;
  pthread_t thread;
  bool thread_started;
  atomic_bool running;
  int *rfd;        // [65536] relay fd by port, -1
  Alloc **by_port;  // [65536]
  Alloc **hash;     // [HASH_BUCKETS] UDP allocations by client address
  // Counters (under mu).
  double packets, bytes, bw_dropped, cross_call, malformed, up_dropped, self_port;
  // Thread-private batch state.
  uint8_t *slots;
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  struct sockaddr_in rfrom[BATCH];
  Out out[BATCH];
  int nout;
  struct mmsghdr smsg[BATCH];
  struct iovec siov[BATCH];
  uint32_t rng;
  // Up-calls.
  pthread_mutex_t qmu;
  UpEvent *qhead, *qtail;
  size_t qn, qbytes;
  bool scheduled;
  napi_threadsafe_function tsfn;
  napi_ref callback;
} Relay;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline uint32_t hash_of(uint32_t ip, uint16_t port) {
  uint32_t h = ip * 2654435761u ^ ((uint32_t)port * 40503u);
  return (h ^ (h >> 15)) & (HASH_BUCKETS - 1);
}

static Alloc *by_client(Relay *r, uint32_t ip, uint16_t port) {
  for (Alloc *a = r->hash[hash_of(ip, port)]; a; a = a->hnext)
    if (a->client_ip == ip && a->client_port == port) return a;
  return NULL;
}

static void hash_remove(Relay *r, Alloc *a) {
  for (Alloc **p = &r->hash[hash_of(a->client_ip, a->client_port)]; *p; p = &(*p)->hnext) {
    if (*p == a) {
      *p = a->hnext;
      return;
    }
  }
}

static void alloc_free(Alloc *a) {
  free(a->perms);
  free(a->chans);
  free(a);
}

static bool permitted(const Alloc *a, uint32_t ip, double now) {
  for (uint32_t i = 0; i < a->nperms; i++)
    if (a->perms[i].ip == ip) return a->perms[i].exp > now;
  return false;
}

// The token bucket of allocations.ts, per allocation, for the packets forwarded here.
static bool spend(Relay *r, Alloc *a, uint32_t bytes, double now) {
  if (now != a->bucket_at) {
    a->bucket += (now - a->bucket_at) * r->cap / 1000.0;
    if (a->bucket > r->cap) a->bucket = r->cap;
    a->bucket_at = now;
  }
  if (a->bucket < bytes) {
    r->bw_dropped++;
    return false;
  }
  a->bucket -= bytes;
  return true;
}

// ---- up-calls -------------------------------------------------------------------------------

static void up(Relay *r, uint8_t kind, uint16_t relay_port, const struct sockaddr_in *from,
               const uint8_t *data, uint32_t len) {
  pthread_mutex_lock(&r->qmu);
  if (r->qn >= MAX_UP_EVENTS || r->qbytes + len > MAX_UP_BYTES) {
    pthread_mutex_unlock(&r->qmu);
    r->up_dropped++;
    return;
  }
  UpEvent *e = malloc(sizeof *e + len);
  if (!e) {
    pthread_mutex_unlock(&r->qmu);
    r->up_dropped++;
    return;
  }
  e->next = NULL;
  e->kind = kind;
  e->relay_port = relay_port;
  e->ip = ntohl(from->sin_addr.s_addr);
  e->port = ntohs(from->sin_port);
  e->len = len;
  memcpy(e->data, data, len);
  if (r->qtail) r->qtail->next = e;
  else r->qhead = e;
  r->qtail = e;
  r->qn++;
  r->qbytes += len;
  pthread_mutex_unlock(&r->qmu);
}

static void schedule_up(Relay *r) {
  pthread_mutex_lock(&r->qmu);
  bool go = r->qhead != NULL && !r->scheduled && r->tsfn != NULL;
  if (go) r->scheduled = true;
  pthread_mutex_unlock(&r->qmu);
  if (go && napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking) != napi_ok) {
    pthread_mutex_lock(&r->qmu);
    r->scheduled = false;
    pthread_mutex_unlock(&r->qmu);
  }
}

static UpEvent *take_queue(Relay *r) {
  pthread_mutex_lock(&r->qmu);
  UpEvent *e = r->qhead;
  r->qhead = r->qtail = NULL;
  r->qn = 0;
  r->qbytes = 0;
  r->scheduled = false;
  pthread_mutex_unlock(&r->qmu);
  return e;
}

static void free_events(UpEvent *e) {
  while (e) {
    UpEvent *n = e->next;
    free(e);
    e = n;
  }
}

// JavaScript thread: hands the queued packets to the callback as one flat array
// [kind, relayPort, ip, port, Buffer, kind, …].
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  Relay *r = context;
  UpEvent *list = take_queue(r);
  if (env == NULL || r->closed || r->callback == NULL) {
    free_events(list);
    return;
  }
  napi_value cb, undef, arr;
  if (napi_get_reference_value(env, r->callback, &cb) != napi_ok || cb == NULL) {
    free_events(list);
    return;
  }
  napi_get_undefined(env, &undef);
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (UpEvent *e = list; e; e = e->next) {
    napi_value v;
    napi_create_uint32(env, e->kind, &v);
    napi_set_element(env, arr, i++, v);
    napi_create_uint32(env, e->relay_port, &v);
    napi_set_element(env, arr, i++, v);
    napi_create_uint32(env, e->ip, &v);
    napi_set_element(env, arr, i++, v);
    napi_create_uint32(env, e->port, &v);
    napi_set_element(env, arr, i++, v);
    void *copy;
    napi_create_buffer_copy(env, e->len, e->data, &copy, &v);
    napi_set_element(env, arr, i++, v);
  }
  free_events(list);
  napi_call_function(env, undef, cb, 1, &arr, NULL);
}

// ---- forwarding (forwarding thread, mu held) ------------------------------------------------

static void queue_out(Relay *r, int fd, uint32_t ip, uint16_t port, uint8_t *buf, uint32_t len) {
  if (fd < 0 || r->nout >= BATCH) return;
  Out *o = &r->out[r->nout++];
  o->fd = fd;
  memset(&o->to, 0, sizeof o->to);
  o->to.sin_family = AF_INET;
  o->to.sin_addr.s_addr = ip;
  o->to.sin_port = port;
  o->buf = buf;
  o->len = len;
}

static void flush_out(Relay *r) {
  int i = 0;
  while (i < r->nout) {
    int fd = r->out[i].fd;
    int n = 0;
    while (i + n < r->nout && r->out[i + n].fd == fd) {
      Out *o = &r->out[i + n];
      r->siov[n].iov_base = o->buf;
      r->siov[n].iov_len = o->len;
      memset(&r->smsg[n], 0, sizeof r->smsg[n]);
      r->smsg[n].msg_hdr.msg_name = &o->to;
      r->smsg[n].msg_hdr.msg_namelen = sizeof o->to;
      r->smsg[n].msg_hdr.msg_iov = &r->siov[n];
      r->smsg[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    int done = 0;
    while (done < n) {
      int s = sendmmsg(fd, &r->smsg[done], (unsigned)(n - done), MSG_DONTWAIT);
      if (s < 0) {
        if (errno == EINTR) continue;
        done++;  // this datagram cannot go (full buffer, unreachable…): drop it, like UDP does
      } else {
        done += s > 0 ? s : 1;
      }
    }
    i += n;
  }
  r->nout = 0;
}

// A datagram for allocation `t` from (ip, port): permission, same-call and bandwidth checks, then
// ChannelData (channel bound) or a Data indication built in place before `data` (HEAD bytes of
// headroom, 4 bytes of slack after).
static void deliver(Relay *r, Alloc *t, uint32_t ip, uint16_t port, uint8_t *data, uint32_t len,
                    double now, const Alloc *from) {
  if (t->exp <= now || !permitted(t, ip, now)) return;
  if (from && from->group != t->group) {
    r->cross_call++;
    return;
  }
  if (!spend(r, t, len, now)) return;
  r->packets++;
  r->bytes += len;
  t->packets++;
  int lfd = r->lfd[0];
  for (uint32_t i = 0; i < t->nchans; i++) {
    Chan *c = &t->chans[i];
    if (c->ip == ip && c->port == port) {
      if (c->exp <= now) break;
      uint8_t *h = data - PN_CHANNEL_HEADER;
      pn_channel_data_header(h, c->num, (uint16_t)len);
      queue_out(r, lfd, t->client_ip, t->client_port, h, len + PN_CHANNEL_HEADER);
      return;
    }
  }
  uint32_t pad = (4 - (len & 3)) & 3;
  uint8_t *h = data - HEAD;
  wr16(h, 0x0017);  // Data indication
  wr16(h + 2, (uint16_t)(16 + len + pad));
  wr32(h + 4, MAGIC);
  for (int i = 8; i < 20; i += 4) {
    r->rng = r->rng * 1664525u + 1013904223u;
    wr32(h + i, r->rng);
  }
  wr16(h + 20, 0x0012);  // XOR-PEER-ADDRESS
  wr16(h + 22, 8);
  h[24] = 0;
  h[25] = 1;
  wr16(h + 26, (uint16_t)(ntohs(port) ^ (MAGIC >> 16)));
  wr32(h + 28, ntohl(ip) ^ MAGIC);
  wr16(h + 32, 0x0013);  // DATA
  wr16(h + 34, (uint16_t)len);
  memset(data + len, 0, pad);
  queue_out(r, lfd, t->client_ip, t->client_port, h, HEAD + len + pad);
}

// Client `a` sends `data` to peer (ip, port): the own-port check, bandwidth, then either straight to the peer
// allocation when it is one of ours with a UDP client (one recv and one send in all), or out of
// a's relay socket.
static void relay_out(Relay *r, Alloc *a, uint32_t ip, uint16_t port, uint8_t *data, uint32_t len,
                      double now) {
  // A permission for the relay's IP covers every port of it (RFC 8656 §9): only live relay ports
  // may be reached, never another service of this machine (peer-policy.ts).
  if (ip == r->relay_ip && !r->self_ports_open && !r->by_port[ntohs(port)]) {
    r->self_port++;
    return;
  }
  if (!spend(r, a, len, now)) return;
  r->packets++;
  r->bytes += len;
  a->packets++;
  if (ip == r->relay_ip) {
    Alloc *t = r->by_port[ntohs(port)];
    if (t && !t->tcp) {
      deliver(r, t, r->relay_ip, htons(a->relay_port), data, len, now, a);
      return;
    }
  }
  queue_out(r, r->rfd[a->relay_port], ip, port, data, len);
}

static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

// CRC-32 (ISO-HDLC, as zlib.crc32), for FINGERPRINT (RFC 8489 §14.7).
static uint32_t crc32_of(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static inline uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// A Send indication we can take without TypeScript: well-formed as stun.ts parseStunMessage
// requires (lengths, padding, a correct FINGERPRINT if any, nothing after it), no
// MESSAGE-INTEGRITY, a first XOR-PEER-ADDRESS that is IPv4, and a DATA attribute. Other
// attributes are ignored, as allocations.ts #onSend ignores them. Returns false to hand it up.
static bool parse_send(const uint8_t *p, uint32_t len, uint32_t *ip, uint16_t *port,
                       uint32_t *doff, uint32_t *dlen) {
  if (len < 20 || rd16(p) != 0x0016 || rd16(p + 2) + 20u != len || (len & 3) != 0) return false;
  if (rd32(p + 4) != MAGIC) return false;
  bool have_peer = false, have_data = false, saw_fp = false;
  uint32_t off = 20;
  while (off < len) {
    if (saw_fp || off + 4 > len) return false;
    uint16_t t = rd16(p + off), l = rd16(p + off + 2);
    uint32_t end = off + 4 + l;
    if (end > len) return false;
    if (t == 0x0012 && !have_peer) {
      if (l != 8 || p[off + 5] != 1) return false;
      *port = htons((uint16_t)(rd16(p + off + 6) ^ (MAGIC >> 16)));
      *ip = htonl(rd32(p + off + 8) ^ MAGIC);
      have_peer = true;
    } else if (t == 0x0013 && !have_data) {
      *doff = off + 4;
      *dlen = l;
      have_data = true;
    } else if (t == 0x0008) {
      return false;  // MESSAGE-INTEGRITY: let TypeScript parse it
    } else if (t == 0x8028) {
      if (l != 4 || rd32(p + off + 4) != (crc32_of(p, off) ^ 0x5354554eu)) return false;
      saw_fp = true;
    }
    off = end + ((4 - (l & 3)) & 3);
  }
  return off == len && have_peer && have_data;
}

static void on_client(Relay *r, const struct sockaddr_in *from, uint8_t *p, uint32_t len,
                      double now) {
  Alloc *a = len > 0 ? by_client(r, from->sin_addr.s_addr, from->sin_port) : NULL;
  if (!a) {
    if (len > 0) up(r, UP_CLIENT, 0, from, p, len);
    return;
  }
  if (pn_is_channel_data(p, len)) {
    // ChannelData, decided here exactly as allocations.ts #onChannelData does.
    if (a->exp <= now) return;
    uint16_t ch = 0, dlen = 0;
    const uint8_t *d = NULL;
    if (pn_channel_data_parse(p, len, &ch, &d, &dlen) != PN_CHANNEL_OK ||
        ch < PN_CHANNEL_MIN || ch > PN_CHANNEL_MAX) {  // stun.ts MIN_CHANNEL..MAX_CHANNEL
      r->malformed++;
      return;
    }
    for (uint32_t i = 0; i < a->nchans; i++) {
      Chan *c = &a->chans[i];
      if (c->num != ch) continue;
      if (c->exp > now && permitted(a, c->ip, now))
        relay_out(r, a, c->ip, c->port, p + PN_CHANNEL_HEADER, dlen, now);
      return;
    }
    return;
  }
  uint32_t ip = 0, doff = 0, dlen = 0;
  uint16_t port = 0;
  if (parse_send(p, len, &ip, &port, &doff, &dlen)) {
    if (a->exp <= now || !permitted(a, ip, now)) return;  // RFC 8656 §11.2: silently discard
    relay_out(r, a, ip, port, p + doff, dlen, now);
    return;
  }
  up(r, UP_CLIENT, 0, from, p, len);
}

static void on_peer(Relay *r, uint16_t relay_port, const struct sockaddr_in *from, uint8_t *p,
                    uint32_t len, double now) {
  Alloc *t = r->by_port[relay_port];
  if (!t) return;  // a reserved port, or an allocation being deleted
  if (t->tcp) {
    up(r, UP_PEER, relay_port, from, p, len);
    return;
  }
  const Alloc *src = NULL;
  if (from->sin_addr.s_addr == r->relay_ip) src = r->by_port[ntohs(from->sin_port)];
  deliver(r, t, from->sin_addr.s_addr, from->sin_port, p, len, now, src);
}

// Receives and handles up to a few batches from one socket.
static void drain(Relay *r, int kind, uint32_t idx) {
  for (int round = 0; round < 8; round++) {
    int fd = kind == EV_LISTENER ? r->lfd[idx] : r->rfd[idx];
    if (fd < 0) return;
    for (int i = 0; i < BATCH; i++) {
      r->riov[i].iov_base = r->slots + (size_t)i * SLOT + HEAD;
      r->riov[i].iov_len = 65536;
      memset(&r->rmsg[i].msg_hdr, 0, sizeof r->rmsg[i].msg_hdr);
      r->rmsg[i].msg_hdr.msg_name = &r->rfrom[i];
      r->rmsg[i].msg_hdr.msg_namelen = sizeof r->rfrom[i];
      r->rmsg[i].msg_hdr.msg_iov = &r->riov[i];
      r->rmsg[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, r->rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    double now = now_ms();
    for (int i = 0; i < n; i++) {
      uint8_t *p = r->riov[i].iov_base;
      uint32_t len = r->rmsg[i].msg_len;
      if (r->rmsg[i].msg_hdr.msg_namelen < sizeof(struct sockaddr_in) ||
          r->rfrom[i].sin_family != AF_INET)
        continue;
      if (kind == EV_LISTENER) on_client(r, &r->rfrom[i], p, len, now);
      else on_peer(r, (uint16_t)idx, &r->rfrom[i], p, len, now);
    }
    flush_out(r);
    if (n < BATCH) return;
  }
}

static void *thread_main(void *arg) {
  Relay *r = arg;
  struct epoll_event evs[64];
  while (atomic_load(&r->running)) {
    int n = epoll_wait(r->epfd, evs, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < n && atomic_load(&r->running); i++) {
      uint64_t u = evs[i].data.u64;
      int kind = (int)(u >> 32);
      uint32_t idx = (uint32_t)u;
      if (kind == EV_WAKE) {
        uint64_t v;
        if (read(r->evfd, &v, sizeof v) < 0) {
        }
      } else {
        drain(r, kind, idx);
      }
    }
    pthread_mutex_unlock(&r->mu);
    schedule_up(r);
  }
  return NULL;
}

// ---- lifecycle ------------------------------------------------------------------------------

static void relay_unref(Relay *r) {
  if (--r->refs > 0) return;
  free_events(take_queue(r));
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->qmu);
  free(r->slots);
  free(r->rfd);
  free(r->by_port);
  free(r->hash);
  free(r);
}

static void env_cleanup(void *arg);

// Stops the thread, closes every socket and frees the tables (JavaScript thread). Idempotent.
static void relay_shutdown(Relay *r) {
  if (r->closed) return;
  r->closed = true;
  if (r->thread_started) {
    atomic_store(&r->running, false);
    uint64_t one = 1;
    if (write(r->evfd, &one, sizeof one) < 0) {
    }
    pthread_join(r->thread, NULL);
    r->thread_started = false;
  }
  for (int i = 0; i < r->nl; i++)
    if (r->lfd[i] >= 0) close(r->lfd[i]);
  r->nl = 0;
  if (r->rfd)
    for (int p = 0; p < 65536; p++)
      if (r->rfd[p] >= 0) {
        close(r->rfd[p]);
        r->rfd[p] = -1;
      }
  if (r->by_port)
    for (int p = 0; p < 65536; p++)
      if (r->by_port[p]) {
        alloc_free(r->by_port[p]);
        r->by_port[p] = NULL;
      }
  if (r->hash) memset(r->hash, 0, sizeof(Alloc *) * HASH_BUCKETS);
  if (r->epfd >= 0) close(r->epfd);
  if (r->evfd >= 0) close(r->evfd);
  r->epfd = r->evfd = -1;
  if (r->tsfn) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_release);
    r->tsfn = NULL;
  }
  if (r->hook) {
    napi_remove_env_cleanup_hook(r->env, env_cleanup, r);
    r->hook = false;
  }
}

static void env_cleanup(void *arg) {
  Relay *r = arg;
  r->hook = false;
  relay_shutdown(r);
}

static void wrapper_finalize(napi_env env, void *data, void *hint) {
  Relay *r = data;
  relay_shutdown(r);
  if (r->callback) {
    napi_delete_reference(env, r->callback);
    r->callback = NULL;
  }
  relay_unref(r);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) { relay_unref(data); }

static Relay *unwrap(napi_env env, napi_value self) {
  Relay *r = NULL;
  if (napi_unwrap(env, self, (void **)&r) != napi_ok || r == NULL) {
    pn_throw(env, "RELAY_ERR_INTERNAL", "not a NativeTurnRelay");
    return NULL;
  }
  if (r->closed) {
    pn_throw(env, "RELAY_ERR_CLOSED", "the relay is closed");
    return NULL;
  }
  return r;
}

static bool get_ipv4(napi_env env, napi_value v, const char *what, uint32_t *out) {
  char buf[64];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) {
    pn_throw(env, "RELAY_ERR_BAD_ARG", "%s must be a string", what);
    return false;
  }
  struct in_addr a;
  if (inet_pton(AF_INET, buf, &a) != 1) {
    pn_throw(env, "RELAY_ERR_BAD_ARG", "%s must be an IPv4 address, got %s", what, buf);
    return false;
  }
  *out = a.s_addr;
  return true;
}

static void set_buffer_sizes(int fd, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

// new NativeTurnRelay(listenIp, port, sockets, relayIp, capBytesPerSec, onPackets, selfPortsOpen)
static napi_value relay_new(napi_env env, napi_callback_info info) {
  napi_value argv[7], self;
  if (!pn_args(env, info, 7, argv, NULL, &self)) return NULL;
  uint32_t lip, rip;
  int64_t port, nsock, cap;
  if (!get_ipv4(env, argv[0], "listenIp", &lip)) return NULL;
  if (!pn_int(env, argv[1], 0, 65535, "RELAY_ERR_BAD_ARG", "port", &port)) return NULL;
  if (!pn_int(env, argv[2], 1, MAX_LISTENERS, "RELAY_ERR_BAD_ARG", "sockets", &nsock)) return NULL;
  if (!get_ipv4(env, argv[3], "relayIp", &rip)) return NULL;
  if (!pn_int(env, argv[4], 1, 1LL << 40, "RELAY_ERR_BAD_ARG", "capBytesPerSec", &cap))
    return NULL;
  napi_valuetype t;
  if (napi_typeof(env, argv[5], &t) != napi_ok || t != napi_function) {
    pn_throw(env, "RELAY_ERR_BAD_ARG", "onPackets must be a function");
    return NULL;
  }
  Relay *r = calloc(1, sizeof *r);
  if (!r) {
    pn_throw(env, "RELAY_ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  r->env = env;
  r->refs = 1;
  r->epfd = r->evfd = -1;
  r->relay_ip = rip;
  r->cap = (double)cap;
  bool open_ports = false;
  napi_valuetype bt;
  if (napi_typeof(env, argv[6], &bt) == napi_ok && bt == napi_boolean)
    napi_get_value_bool(env, argv[6], &open_ports);
  r->self_ports_open = open_ports;
  r->rng = (uint32_t)now_ms() ^ (uint32_t)(uintptr_t)r;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->qmu, NULL);
  r->slots = malloc((size_t)BATCH * SLOT);
  r->rfd = malloc(sizeof(int) * 65536);
  r->by_port = calloc(65536, sizeof(Alloc *));
  r->hash = calloc(HASH_BUCKETS, sizeof(Alloc *));
  r->closed = false;
  if (!r->slots || !r->rfd || !r->by_port || !r->hash) {
    r->closed = true;
    relay_unref(r);
    pn_throw(env, "RELAY_ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  for (int p = 0; p < 65536; p++) r->rfd[p] = -1;
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  int err = 0;
  const char *what = "epoll";
  if (r->epfd < 0 || r->evfd < 0) err = errno;
  uint16_t bound = (uint16_t)port;
  for (int i = 0; i < nsock && err == 0; i++) {
    what = "listener";
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      break;
    }
    r->lfd[r->nl++] = fd;
    int one = 1;
    if (nsock > 1) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    set_buffer_sizes(fd, 4 << 20);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(bound), .sin_addr = {lip}};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      err = errno;
      break;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    bound = ntohs(sa.sin_port);
  }
  r->lport = bound;
  if (err == 0) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)EV_WAKE << 32};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) != 0) err = errno;
    for (int i = 0; i < r->nl && err == 0; i++) {
      ev.data.u64 = ((uint64_t)EV_LISTENER << 32) | (uint32_t)i;
      if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->lfd[i], &ev) != 0) err = errno;
    }
  }
  if (err != 0) {
    relay_shutdown(r);
    relay_unref(r);
    pn_throw(env, err == EADDRINUSE ? "RELAY_ERR_ADDRESS_IN_USE" : "RELAY_ERR_SOCKET",
             "%s: %s", what, strerror(err));
    return NULL;
  }
  if (napi_create_reference(env, argv[5], 1, &r->callback) != napi_ok ||
      napi_wrap(env, self, r, wrapper_finalize, NULL, NULL) != napi_ok) {
    if (r->callback) napi_delete_reference(env, r->callback);
    r->callback = NULL;
    relay_shutdown(r);
    relay_unref(r);
    pn_throw(env, "RELAY_ERR_INTERNAL", "could not wrap the relay");
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "parloir-turn-relay", NAPI_AUTO_LENGTH, &name);
  r->refs++;
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, r, tsfn_finalize, r, call_js,
                                      &r->tsfn) != napi_ok) {
    r->refs--;
    r->tsfn = NULL;
    relay_shutdown(r);
    pn_throw(env, "RELAY_ERR_INTERNAL", "could not create the thread-safe function");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup, r);
  r->hook = true;
  atomic_store(&r->running, true);
  if (pthread_create(&r->thread, NULL, thread_main, r) != 0) {
    relay_shutdown(r);
    pn_throw(env, "RELAY_ERR_INTERNAL", "could not start the forwarding thread");
    return NULL;
  }
  r->thread_started = true;
  return self;
}

// port(): the bound listening port.
static napi_value relay_port(napi_env env, napi_callback_info info) {
  napi_value self, v;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  if (!r) return NULL;
  napi_create_uint32(env, r->lport, &v);
  return v;
}

// openRelay(port): binds a relay socket on relayIp:port (exclusively). false if taken.
static napi_value relay_open(napi_env env, napi_callback_info info) {
  napi_value argv[1], self, v;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  int64_t port;
  if (!r || !pn_int(env, argv[0], 1, 65535, "RELAY_ERR_BAD_ARG", "port", &port)) return NULL;
  bool ok = false;
  if (r->rfd[port] < 0) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr = {r->relay_ip}};
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
      struct epoll_event ev = {.events = EPOLLIN,
                               .data.u64 = ((uint64_t)EV_RELAY << 32) | (uint32_t)port};
      pthread_mutex_lock(&r->mu);
      r->rfd[port] = fd;
      ok = epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
      if (!ok) r->rfd[port] = -1;
      pthread_mutex_unlock(&r->mu);
    }
    if (!ok && fd >= 0) close(fd);
  }
  napi_get_boolean(env, ok, &v);
  return v;
}

// closeRelay(port): closes the relay socket of `port`, if open.
static napi_value relay_close_port(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  int64_t port;
  if (!r || !pn_int(env, argv[0], 1, 65535, "RELAY_ERR_BAD_ARG", "port", &port)) return NULL;
  pthread_mutex_lock(&r->mu);
  int fd = r->rfd[port];
  r->rfd[port] = -1;
  if (fd >= 0) {
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static bool get_f64s(napi_env env, napi_value v, const char *what, double **data, size_t *n) {
  bool is = false;
  napi_typedarray_type t;
  void *p;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, n, &p, NULL, NULL) != napi_ok ||
      t != napi_float64_array) {
    pn_throw(env, "RELAY_ERR_BAD_ARG", "%s must be a Float64Array", what);
    return false;
  }
  *data = p;
  return true;
}

// setAllocation(relayPort, clientIp, clientPort, tcp, group, expiresAtMs, perms, chans):
// creates or replaces the table entry of the allocation on `relayPort`. perms is
// [ip, expiresAtMs, …] and chans [number, ip, port, expiresAtMs, …], IPs as host-order u32.
// The bandwidth bucket and packet count of an existing entry are kept.
static napi_value relay_set(napi_env env, napi_callback_info info) {
  napi_value argv[8], self;
  if (!pn_args(env, info, 8, argv, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  int64_t port, cip, cport, group;
  bool tcp;
  double exp, *pd, *cd;
  size_t np, nc;
  if (!r || !pn_int(env, argv[0], 1, 65535, "RELAY_ERR_BAD_ARG", "relayPort", &port) ||
      !pn_int(env, argv[1], 0, 0xffffffffLL, "RELAY_ERR_BAD_ARG", "clientIp", &cip) ||
      !pn_int(env, argv[2], 0, 65535, "RELAY_ERR_BAD_ARG", "clientPort", &cport) ||
      !pn_bool(env, argv[3], "RELAY_ERR_BAD_ARG", "tcp", &tcp) ||
      !pn_int(env, argv[4], 0, 0xffffffffLL, "RELAY_ERR_BAD_ARG", "group", &group))
    return NULL;
  if (napi_get_value_double(env, argv[5], &exp) != napi_ok) {
    pn_throw(env, "RELAY_ERR_BAD_ARG", "expiresAtMs must be a number");
    return NULL;
  }
  if (!get_f64s(env, argv[6], "perms", &pd, &np) || !get_f64s(env, argv[7], "chans", &cd, &nc))
    return NULL;
  if (np % 2 != 0 || nc % 4 != 0) {
    pn_throw(env, "RELAY_ERR_BAD_ARG", "perms or chans has a wrong length");
    return NULL;
  }
  np /= 2;
  nc /= 4;
  Perm *perms = np ? malloc(sizeof(Perm) * np) : NULL;
  Chan *chans = nc ? malloc(sizeof(Chan) * nc) : NULL;
  if ((np && !perms) || (nc && !chans)) {
    free(perms);
    free(chans);
    pn_throw(env, "RELAY_ERR_NO_MEMORY", "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < np; i++) {
    perms[i].ip = htonl((uint32_t)pd[2 * i]);
    perms[i].exp = pd[2 * i + 1];
  }
  for (size_t i = 0; i < nc; i++) {
    chans[i].num = (uint16_t)cd[4 * i];
    chans[i].ip = htonl((uint32_t)cd[4 * i + 1]);
    chans[i].port = htons((uint16_t)cd[4 * i + 2]);
    chans[i].exp = cd[4 * i + 3];
  }
  pthread_mutex_lock(&r->mu);
  Alloc *a = r->by_port[port];
  uint32_t nip = htonl((uint32_t)cip);
  uint16_t nport = htons((uint16_t)cport);
  if (a && (a->client_ip != nip || a->client_port != nport || a->tcp != tcp)) {
    if (!a->tcp) hash_remove(r, a);
    a->client_ip = nip;
    a->client_port = nport;
    a->tcp = tcp;
    if (!tcp) {
      uint32_t h = hash_of(nip, nport);
      a->hnext = r->hash[h];
      r->hash[h] = a;
    }
  }
  if (!a) {
    a = calloc(1, sizeof *a);
    if (!a) {
      pthread_mutex_unlock(&r->mu);
      free(perms);
      free(chans);
      pn_throw(env, "RELAY_ERR_NO_MEMORY", "out of memory");
      return NULL;
    }
    a->relay_port = (uint16_t)port;
    a->client_ip = nip;
    a->client_port = nport;
    a->tcp = tcp;
    a->bucket = r->cap;
    a->bucket_at = now_ms();
    r->by_port[port] = a;
    if (!tcp) {
      uint32_t h = hash_of(nip, nport);
      a->hnext = r->hash[h];
      r->hash[h] = a;
    }
  }
  a->group = (uint32_t)group;
  a->exp = exp;
  free(a->perms);
  free(a->chans);
  a->perms = perms;
  a->nperms = (uint32_t)np;
  a->chans = chans;
  a->nchans = (uint32_t)nc;
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

// deleteAllocation(relayPort): removes the entry at once; returns the packets it forwarded here.
static napi_value relay_delete(napi_env env, napi_callback_info info) {
  napi_value argv[1], self, v;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  int64_t port;
  if (!r || !pn_int(env, argv[0], 1, 65535, "RELAY_ERR_BAD_ARG", "relayPort", &port)) return NULL;
  pthread_mutex_lock(&r->mu);
  Alloc *a = r->by_port[port];
  double packets = 0;
  if (a) {
    r->by_port[port] = NULL;
    if (!a->tcp) hash_remove(r, a);
    packets = a->packets;
    alloc_free(a);
  }
  pthread_mutex_unlock(&r->mu);
  napi_create_double(env, packets, &v);
  return v;
}

static napi_value send_common(napi_env env, napi_callback_info info, bool from_relay) {
  napi_value argv[4], self, v;
  if (!pn_args(env, info, 4, argv, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  if (!r) return NULL;
  int64_t rport = 0, ip, port;
  int a = 0;
  if (from_relay && !pn_int(env, argv[a++], 1, 65535, "RELAY_ERR_BAD_ARG", "relayPort", &rport))
    return NULL;
  void *data;
  size_t len;
  if (!pn_int(env, argv[a], 0, 0xffffffffLL, "RELAY_ERR_BAD_ARG", "ip", &ip) ||
      !pn_int(env, argv[a + 1], 0, 65535, "RELAY_ERR_BAD_ARG", "port", &port) ||
      !pn_typed(env, argv[a + 2], napi_uint8_array, "RELAY_ERR_BAD_ARG", "data", &data, &len))
    return NULL;
  struct sockaddr_in to = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr = {htonl((uint32_t)ip)}};
  bool ok = false;
  if (from_relay) {
    pthread_mutex_lock(&r->mu);
    int fd = r->rfd[rport];
    ok = fd >= 0 && sendto(fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to) >= 0;
    pthread_mutex_unlock(&r->mu);
  } else {
    ok = sendto(r->lfd[0], data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to) >= 0;
  }
  napi_get_boolean(env, ok, &v);
  return v;
}

// sendToClient(ip, port, data): one datagram from the listening address. false if dropped.
static napi_value relay_send_client(napi_env env, napi_callback_info info) {
  return send_common(env, info, false);
}

// sendFromRelay(relayPort, ip, port, data): one datagram from a relay socket.
static napi_value relay_send_relay(napi_env env, napi_callback_info info) {
  return send_common(env, info, true);
}

// counters(): what the thread forwarded and dropped.
static napi_value relay_counters(napi_env env, napi_callback_info info) {
  napi_value self, obj;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Relay *r = unwrap(env, self);
  if (!r) return NULL;
  napi_create_object(env, &obj);
  pthread_mutex_lock(&r->mu);
  pn_set_num(env, obj, "packets", r->packets);
  pn_set_num(env, obj, "bytes", r->bytes);
  pn_set_num(env, obj, "bandwidthDropped", r->bw_dropped);
  pn_set_num(env, obj, "crossCall", r->cross_call);
  pn_set_num(env, obj, "malformed", r->malformed);
  pn_set_num(env, obj, "upcallsDropped", r->up_dropped);
  pn_set_num(env, obj, "selfPort", r->self_port);
  pthread_mutex_unlock(&r->mu);
  return obj;
}

// close(): stops the thread and closes every socket. Idempotent.
static napi_value relay_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Relay *r = NULL;
  if (napi_unwrap(env, self, (void **)&r) == napi_ok && r) relay_shutdown(r);
  return NULL;
}

napi_value pn_relay_init(napi_env env, napi_value exports) {
  crc_init();
  napi_property_descriptor props[] = {
      {"port", NULL, relay_port, NULL, NULL, NULL, napi_default, NULL},
      {"openRelay", NULL, relay_open, NULL, NULL, NULL, napi_default, NULL},
      {"closeRelay", NULL, relay_close_port, NULL, NULL, NULL, napi_default, NULL},
      {"setAllocation", NULL, relay_set, NULL, NULL, NULL, napi_default, NULL},
      {"deleteAllocation", NULL, relay_delete, NULL, NULL, NULL, napi_default, NULL},
      {"sendToClient", NULL, relay_send_client, NULL, NULL, NULL, napi_default, NULL},
      {"sendFromRelay", NULL, relay_send_relay, NULL, NULL, NULL, napi_default, NULL},
      {"counters", NULL, relay_counters, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, relay_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativeTurnRelay", NAPI_AUTO_LENGTH, relay_new, NULL,
                    sizeof props / sizeof props[0], props, &cls);
  napi_set_named_property(env, exports, "NativeTurnRelay", cls);
  return exports;
}
