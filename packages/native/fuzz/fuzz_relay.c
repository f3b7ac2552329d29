// libFuzzer harness for the TURN relay's C data path (src/relay.c): every datagram a client or a
// peer can send reaches on_client/on_peer — ChannelData and Send indication parsing, the
// permission, channel and same-call checks, the in-place Data indication / ChannelData framing
// into the slot's headroom, and the up-call queue. relay.c is included whole so its static
// functions are reachable; its N-API entry points are never called here (the link leaves their
// napi_* symbols unresolved on purpose). No socket is opened: every fd is -1, so nothing is sent.
//
// Input: a sequence of datagrams  [from(1) len_hi(1) len_lo(1) bytes(len)], where `from` picks
// the source: bit 7 = arrives on a relay port (peer side) instead of the listener; the low bits
// pick one of a few addresses (the two clients, a permitted peer, an unknown host, the relay
// address itself on an allocation's port).
#include "../src/relay.c"

#include <assert.h>

#define NALLOC 3

static Relay *fuzz_relay(void) {
  static Relay *r;
  if (r) return r;
  crc_init();
  r = calloc(1, sizeof *r);
  r->rfd = malloc(65536 * sizeof *r->rfd);
  for (int i = 0; i < 65536; i++) r->rfd[i] = -1;
  r->by_port = calloc(65536, sizeof *r->by_port);
  r->hash = calloc(HASH_BUCKETS, sizeof *r->hash);
  r->lfd[0] = -1;
  r->nl = 1;
  r->relay_ip = htonl(0x0a000001);  // 10.0.0.1
  r->cap = 1e6;
  r->rng = 1;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->qmu, NULL);
  r->slots = malloc(SLOT);
  // Three allocations: two UDP clients in one call (group 1), one TCP client (group 2).
  for (int i = 0; i < NALLOC; i++) {
    Alloc *a = calloc(1, sizeof *a);
    a->relay_port = (uint16_t)(50000 + i);
    a->client_ip = htonl(0xc0a80000u + (uint32_t)i + 1);  // 192.168.0.1..3
    a->client_port = htons((uint16_t)(40000 + i));
    a->tcp = i == 2;
    a->group = i == 2 ? 2 : 1;
    a->exp = 1e300;
    a->nperms = 2;
    a->perms = calloc(2, sizeof *a->perms);
    a->perms[0] = (Perm){r->relay_ip, 1e300};
    a->perms[1] = (Perm){htonl(0x08080808), 1e300};  // 8.8.8.8
    a->nchans = 2;
    a->chans = calloc(2, sizeof *a->chans);
    a->chans[0] = (Chan){0x4000, htons((uint16_t)(50000 + (i ^ 1))), r->relay_ip, 1e300};
    a->chans[1] = (Chan){0x4001, htons(3478), htonl(0x08080808), 0};  // expired
    a->bucket = r->cap;
    r->by_port[a->relay_port] = a;
    if (!a->tcp) {
      uint32_t h = hash_of(a->client_ip, a->client_port);
      a->hnext = r->hash[h];
      r->hash[h] = a;
    }
  }
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Relay *r = fuzz_relay();
  static const uint32_t ips[] = {0xc0a80001u, 0xc0a80002u, 0xc0a80003u, 0x08080808u,
                                 0x0a000001u, 0x7f000001u, 0x0a000001u, 0x01020304u};
  static const uint16_t ports[] = {40000, 40001, 40002, 3478, 50001, 22, 50000, 9};
  double now = 1000;
  size_t off = 0;
  while (off + 3 <= size) {
    uint8_t from = data[off];
    uint32_t len = (uint32_t)data[off + 1] << 8 | data[off + 2];
    off += 3;
    if (len > size - off) len = (uint32_t)(size - off);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(ips[from & 7]);
    sa.sin_port = htons(ports[(from >> 3) & 7]);
    uint8_t *p = r->slots + HEAD;
    memcpy(p, data + off, len);
    off += len;
    now += from & 0x40 ? 1000 : 1;
    if (from & 0x80)
      on_peer(r, (uint16_t)(50000 + ((from >> 3) % NALLOC)), &sa, p, len, now);
    else
      on_client(r, &sa, p, len, now);
    // Every queued output must lie inside the slot: the headroom and the 4 bytes of slack.
    for (int i = 0; i < r->nout; i++)
      assert(r->out[i].buf >= r->slots && r->out[i].buf + r->out[i].len <= r->slots + SLOT);
    r->nout = 0;
  }
  free_events(take_queue(r));
  return 0;
}
