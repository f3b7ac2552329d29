// The RTP receive path of a call in C: the ICE socket → SRTP AEAD_AES_128_GCM open (RFC 7714) →
// the adaptive jitter buffer (jitter.c, the C port of @parloir/media's) → Opus decode, FEC or
// PLC → the playback device.
//
// Why: in JavaScript every received packet woke the event loop and ran the dgram callback, the
// SRTP open, the jitter buffer, the decoder and the playout queue: most of what was left of a
// client's CPU once the send path had moved to C (sender.c). Here a packet is read, opened and
// buffered on this receiver's socket thread, and the audio is pulled on the playback device's
// thread, so JavaScript is woken a few times a second, not per packet.
//
// Threads:
// - the receiver's I/O thread reads every datagram of werift's ICE socket (a dup(); JavaScript
//   stops libuv's reading of it first). SRTP from the selected peer with a negotiated payload type and
//   an SSRC werift has seen goes to the jitter buffer; everything else (STUN, DTLS, RTCP, the
//   first packet of an SSRC) is handed back to JavaScript through a thread-safe function, and
//   JavaScript gives it to werift as if libuv had read it;
// - the playback device pulls ticks on its own thread: pcm.c's ALSA playback thread
//   (pn_receiver_pull), or for `wav:`/`null` (startPaced) the same I/O thread, pacing a device
//   like a sound card with its poll timeout: after a packet arrives it tops the queue up by the
//   packet's duration, as the JavaScript playout did, so the packet plays without waiting for a
//   tick, and the next timeout is computed from the new queue (no wakeup is wasted on a
//   deadline that an arrival has already pushed back).
//
// JavaScript reads, a few times a second: a record per packet (for werift's RTCP receiver
// statistics and the engine's QoS), the jitter buffer's counters, the played PCM of a `wav:`
// device, and, when asked, per-tick probes (the latency benchmark).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <opus.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "jitter.h"
#include "apm_pipe.h"
#include "receiver.h"
#include "srtp_gcm.h"
#include "turn_frame.h"

#define RX_MAGIC 0x52435652u  // "RCVR"
#define RATE 48000
#define MAX_DGRAM 2048
#define MAX_SSRC 8
#define RECORD_RING 4096  // power of two
#define PCM_RING (1u << 17)  // samples, power of two (2.7 s)
#define PROBE_RING 512    // power of two
#define MAX_TICK 960      // samples: a 20 ms jitter-buffer tick
#define MAX_FORWARD 256   // datagrams waiting for JavaScript
#define FILL_MAX_TICKS 100
// The paced device keeps at least 1 ms queued beyond the period it has committed (with a 10 ms
// period, the CLI's default, the period sets it: 10 ms); a packet's arrival tops the queue up
// by its duration plus 2 ms for the next packet's lateness, and the device's own timer pulls
// within 1 ms of the target. Issue 18 cut them from 5 and 3 ms (what the JavaScript playout
// used): bench:call at 10 ms frames with a 1 ms period, 38-41 → 26-31 ms mouth-to-ear; a late
// packet past the margin costs an expand, as before.
#define PACED_MIN_QUEUE 48
#define ARRIVAL_MARGIN 96
#define TIMER_SLACK 48
#define TAG_LEN PN_GCM_TAG_LEN
// RFC 3711 §3.3.2 replay list: packets, as libsrtp's (the RFC asks for at least 64).
#define REPLAY_WINDOW 128
#define NO_INDEX UINT64_MAX

typedef struct {
  uint32_t ssrc;
  uint32_t roc;       // with last_seq, the highest packet index received (RFC 3711 §3.3.1)
  uint16_t last_seq;
  bool used;
  // Replay list: slot i holds the last index received with index mod REPLAY_WINDOW == i (the
  // RFC's bitmask as a ring of indices, nothing to shift).
  uint64_t seen[REPLAY_WINDOW];
} SsrcState;

enum { REPLAY_FRESH, REPLAY_REPLAYED, REPLAY_TOO_OLD };

typedef struct {
  uint32_t ssrc, ts;
  uint16_t seq, payload_bytes, header_bytes;
  uint8_t pt, marker, outcome, via_js;
  double arrival_ms;
} Record;

typedef struct {
  double clock;    // device sample index of pcm[0]
  double pull_ms;  // CLOCK_MONOTONIC of the pull
  int decision;
  int16_t pcm[MAX_TICK];
} Probe;

typedef struct Fwd {
  struct Fwd *next;
  struct sockaddr_storage from;
  size_t len;
  uint8_t data[];
} Fwd;

struct PnReceiver {
  uint32_t magic;
  _Atomic int refs;  // JavaScript wrapper + thread-safe function + attached ALSA streams
  int fd;            // dup() of the ICE socket, -1 once closed
  int wake_fd;       // eventfd that stops the socket thread
  struct sockaddr_storage peer;  // the selected remote candidate, or the TURN server (channel)
  // Relayed edge: the TURN channel our client bound to the peer (RFC 8656 §12); SRTP comes from
  // the server as ChannelData on it. 0: direct.
  uint16_t channel;
  bool pt_ok[128];
  EVP_CIPHER_CTX *gcm;
  uint8_t salt[PN_GCM_SALT_LEN];

  // Everything below up to the forward queue: under mu.
  pthread_mutex_t mu;
  PnJb *jb;
  int tick;  // samples per jitter-buffer tick
  SsrcState ssrcs[MAX_SSRC];
  double lead_ms;  // smoothed time from a pull to the playout of its first sample
  bool have_lead;
  int16_t carry[MAX_TICK];  // the rest of a tick pulled for a device period that is not whole ticks
  int carry_off, carry_n;
  uint64_t written;  // device samples pulled so far: the device clock of the next pull
  // Paced device (startPaced).
  bool paced;
  bool keep_pcm;
  int64_t t0_ns;  // when device sample 0 plays
  uint32_t period;
  int32_t volume_q16;  // output volume, linear × 65536 (setVolumeQ16), applied to every tick
  PnApmPipe *apm;      // gets what plays as the echo reference (apm_pipe.cc); set once
  uint64_t silence;
  int16_t *pcm_ring;
  uint64_t pcm_w, pcm_r, pcm_dropped;
  Record records[RECORD_RING];
  uint64_t rec_w, rec_r, rec_dropped;
  bool probing;
  Probe *probes;
  uint64_t probe_w, probe_r;

  // Datagrams for werift, delivered on the JavaScript thread.
  pthread_mutex_t fwd_mu;
  Fwd *fwd_head, *fwd_tail;
  size_t fwd_count;
  napi_threadsafe_function tsfn;
  _Atomic int notify_pending;

  pthread_t thread;
  bool thread_started;  // JavaScript thread only
  _Atomic bool reading;  // start(): the I/O thread reads the socket
  _Atomic bool stop;
  _Atomic bool closed;

  _Atomic uint64_t packets, bytes, auth_failures, forwarded, forward_dropped, socket_errors;
  _Atomic uint64_t replayed, too_old;
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void receiver_free(PnReceiver *r) {
  if (r->fd >= 0) close(r->fd);
  if (r->wake_fd >= 0) close(r->wake_fd);
  if (r->gcm) pn_gcm_free(r->gcm);
  if (r->jb) pn_jb_free(r->jb);
  memset(r->salt, 0, sizeof r->salt);
  while (r->fwd_head) {
    Fwd *f = r->fwd_head;
    r->fwd_head = f->next;
    free(f);
  }
  free(r->pcm_ring);
  free(r->probes);
  if (r->apm) pn_apm_pipe_unref(r->apm);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->fwd_mu);
  r->magic = 0;
  free(r);
}

void pn_receiver_ref(PnReceiver *r) { atomic_fetch_add(&r->refs, 1); }

bool pn_receiver_set_apm(PnReceiver *r, PnApmPipe *p) {
  pthread_mutex_lock(&r->mu);
  bool ok = r->apm == NULL;
  if (ok) {
    pn_apm_pipe_ref(p);
    r->apm = p;
  }
  pthread_mutex_unlock(&r->mu);
  return ok;
}

void pn_receiver_unref(PnReceiver *r) {
  if (atomic_fetch_sub(&r->refs, 1) == 1) receiver_free(r);
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool same_peer(const PnReceiver *r, const struct sockaddr_storage *a) {
  if (a->ss_family != r->peer.ss_family) return false;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)&r->peer;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)&r->peer;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

// RFC 3711 Appendix A: the ROC of `seq` given the highest sequence number `sl` seen with `roc`.
static uint32_t guess_roc(uint32_t roc, uint16_t sl, uint16_t seq) {
  if (sl < 0x8000) return (int)seq - (int)sl > 0x8000 ? roc - 1 : roc;
  return (int)sl - 0x8000 > (int)seq ? roc + 1 : roc;
}

static SsrcState *find_ssrc(PnReceiver *r, uint32_t ssrc) {
  for (int i = 0; i < MAX_SSRC; i++)
    if (r->ssrcs[i].used && r->ssrcs[i].ssrc == ssrc) return &r->ssrcs[i];
  return NULL;
}

static uint64_t packet_index(uint32_t roc, uint16_t seq) { return (uint64_t)roc << 16 | seq; }

// RFC 3711 §3.3.2, before authenticating: whether packet `index` may be new. A packet more than
// the window behind the highest index is refused whether or not it was received: an old packet
// let through would reach the jitter buffer as a jump back, which resets it beyond 2,048.
static int replay_check(PnReceiver *r, const SsrcState *st, uint64_t index) {
  uint64_t highest = packet_index(st->roc, st->last_seq);
  if (index > highest) return REPLAY_FRESH;
  if (highest - index >= REPLAY_WINDOW) {
    atomic_fetch_add(&r->too_old, 1);
    return REPLAY_TOO_OLD;
  }
  if (st->seen[index % REPLAY_WINDOW] == index) {
    atomic_fetch_add(&r->replayed, 1);
    return REPLAY_REPLAYED;
  }
  return REPLAY_FRESH;
}

// After authenticating: records `index` and advances the highest index (ROC and s_l, §3.3.1).
static void replay_commit(SsrcState *st, uint64_t index) {
  st->seen[index % REPLAY_WINDOW] = index;
  if (index > packet_index(st->roc, st->last_seq)) {
    st->roc = (uint32_t)(index >> 16);
    st->last_seq = (uint16_t)index;
  }
}

// ---------------------------------------------------------------------------------------------
// Playout (under mu)

static void pcm_put(PnReceiver *r, const int16_t *pcm, size_t n) {
  if (!r->keep_pcm) return;
  for (size_t i = 0; i < n; i++) r->pcm_ring[(r->pcm_w + i) & (PCM_RING - 1)] = pcm ? pcm[i] : 0;
  r->pcm_w += n;
  if (r->pcm_w - r->pcm_r > PCM_RING) {  // JavaScript fell behind: the oldest go
    r->pcm_dropped += r->pcm_w - r->pcm_r - PCM_RING;
    r->pcm_r = r->pcm_w - PCM_RING;
  }
}

// One jitter-buffer tick into `out`, which plays from `play_at_ns` on. The buffer's playout
// clock is the device's, less the smoothed lead of a pull over its playout (engine.ts did the
// same): it runs on the arrival times' clock and advances exactly one tick per tick, so a late
// or bunched pull does not read as a change of buffer level.
static int pull_tick(PnReceiver *r, int16_t *out, int64_t play_at_ns, int64_t now) {
  double lead = (double)(play_at_ns - now) / 1e6;
  r->lead_ms = r->have_lead ? r->lead_ms + (lead - r->lead_ms) / 64 : lead;
  r->have_lead = true;
  int d = pn_jb_pull(r->jb, (double)play_at_ns / 1e6 - r->lead_ms, out);
  if (r->volume_q16 != 65536) {  // output volume: what plays (and what probes see) is scaled
    for (int i = 0; i < r->tick; i++) {
      int64_t v = ((int64_t)out[i] * r->volume_q16) >> 16;
      out[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
  }
  if (r->apm) pn_apm_pipe_far(r->apm, out, (size_t)r->tick, play_at_ns);  // the echo reference
  if (r->probing) {
    Probe *p = &r->probes[r->probe_w & (PROBE_RING - 1)];
    p->clock = (double)r->written;
    p->pull_ms = (double)now / 1e6;
    p->decision = d;
    memcpy(p->pcm, out, (size_t)r->tick * sizeof *out);
    r->probe_w++;
  }
  r->written += (uint64_t)r->tick;
  return d;
}

// Paced device: samples it has committed by `t` (one period past the clock, like a card with a
// one-period buffer; what is written now plays at least a period later).
static uint64_t paced_due(const PnReceiver *r, int64_t t) {
  if (t <= r->t0_ns) return r->period;
  return (uint64_t)((t - r->t0_ns) * (RATE / 1000) / 1000000) + r->period;
}

static uint64_t paced_target(const PnReceiver *r) {
  return r->period > PACED_MIN_QUEUE ? r->period : PACED_MIN_QUEUE;
}

// Tops the paced device's queue up to its target plus `ahead` samples.
static void paced_fill(PnReceiver *r, uint64_t ahead, int64_t now) {
  uint64_t due = paced_due(r, now);
  if (r->written < due) {  // starved: the device played silence
    uint64_t gap = due - r->written;
    r->silence += gap;
    if (r->keep_pcm) {
      uint64_t n = gap > PCM_RING ? PCM_RING : gap;
      pcm_put(r, NULL, (size_t)n);
    }
    r->written = due;
  }
  int16_t out[MAX_TICK];
  uint64_t want = paced_target(r) + ahead;
  for (int i = 0; i < FILL_MAX_TICKS && r->written - due < want; i++) {
    int64_t play_at = r->t0_ns + (int64_t)(r->written * 1000000 / (RATE / 1000));
    pull_tick(r, out, play_at, now);
    pcm_put(r, out, (size_t)r->tick);
  }
}

// When the paced device's queue will have drained to its target (CLOCK_MONOTONIC ns).
static int64_t paced_wake(const PnReceiver *r, int64_t now) {
  uint64_t target = paced_target(r) + r->period;
  int64_t wake = r->t0_ns;
  if (r->written > target) wake += (int64_t)((r->written - target) * 1000000 / (RATE / 1000));
  return wake < now + 1000000 ? now + 1000000 : wake;
}

void pn_receiver_pull(PnReceiver *r, int16_t *out, size_t n, int64_t play_at_ns) {
  pthread_mutex_lock(&r->mu);
  if (atomic_load(&r->closed) || r->jb == NULL) {
    memset(out, 0, n * sizeof *out);
    pthread_mutex_unlock(&r->mu);
    return;
  }
  int64_t now = now_ns();
  size_t done = 0;
  while (done < n) {
    if (r->carry_n == 0) {
      // The carry's first sample plays after what is already out.
      int64_t at = play_at_ns + (int64_t)(done * 1000000000ULL / RATE);
      pull_tick(r, r->carry, at, now);
      r->carry_off = 0;
      r->carry_n = r->tick;
    }
    size_t take = (size_t)r->carry_n;
    if (take > n - done) take = n - done;
    memcpy(out + done, r->carry + r->carry_off, take * sizeof *out);
    r->carry_off += (int)take;
    r->carry_n -= (int)take;
    done += take;
  }
  pthread_mutex_unlock(&r->mu);
}

// ---------------------------------------------------------------------------------------------
// Packets (socket thread, and insert() from JavaScript)

// Buffers one opened RTP packet; under mu.
static void buffer_packet(PnReceiver *r, uint16_t seq, uint32_t ts, uint32_t ssrc, bool marker,
                          uint8_t pt, const uint8_t *payload, size_t len, size_t hl, int64_t t,
                          bool via_js) {
  int outcome = pn_jb_insert(r->jb, seq, ts, ssrc, marker, payload, len, (double)t / 1e6);
  Record *rec = &r->records[r->rec_w & (RECORD_RING - 1)];
  rec->ssrc = ssrc;
  rec->ts = ts;
  rec->seq = seq;
  rec->payload_bytes = (uint16_t)len;
  rec->header_bytes = (uint16_t)hl;
  rec->pt = pt;
  rec->marker = marker;
  rec->outcome = (uint8_t)outcome;
  rec->via_js = via_js;
  rec->arrival_ms = (double)t / 1e6;
  r->rec_w++;
  if (r->rec_w - r->rec_r > RECORD_RING) {
    r->rec_dropped += r->rec_w - r->rec_r - RECORD_RING;
    r->rec_r = r->rec_w - RECORD_RING;
  }
  if (r->paced) {
    // Play it from this wakeup: top the queue up by the packet's duration plus a margin for the
    // next packet's arrival jitter, so the device's timer does not pull (and conceal) before
    // that packet is here. A device run with a period shorter than the buffer's tick is asked
    // for low latency: it is topped up by one period, as a card takes a period at a time, and
    // its timer pulls the rest tick by tick — the whole packet at once would sit in the device
    // queue instead (issue 18: with a 1 ms period, 9 ms of a 10 ms packet).
    int samples = len > 0 ? opus_packet_get_nb_samples(payload, (opus_int32)len, RATE) : 0;
    if (samples <= 0 || samples > 5760) samples = 960;
    uint64_t ahead = r->period < (uint32_t)r->tick ? r->period : (uint64_t)samples;
    paced_fill(r, ahead + ARRIVAL_MARGIN, t);
  }
}

static void forward(PnReceiver *r, const uint8_t *buf, size_t n, const struct sockaddr_storage *from) {
  pthread_mutex_lock(&r->fwd_mu);
  if (r->fwd_count >= MAX_FORWARD) {
    pthread_mutex_unlock(&r->fwd_mu);
    atomic_fetch_add(&r->forward_dropped, 1);
    return;
  }
  Fwd *f = malloc(sizeof *f + n);
  if (f == NULL) {
    pthread_mutex_unlock(&r->fwd_mu);
    atomic_fetch_add(&r->forward_dropped, 1);
    return;
  }
  f->next = NULL;
  f->from = *from;
  f->len = n;
  memcpy(f->data, buf, n);
  if (r->fwd_tail) r->fwd_tail->next = f;
  else r->fwd_head = f;
  r->fwd_tail = f;
  r->fwd_count++;
  pthread_mutex_unlock(&r->fwd_mu);
  atomic_fetch_add(&r->forwarded, 1);
  if (!atomic_exchange(&r->notify_pending, 1))
    napi_call_threadsafe_function(r->tsfn, NULL, napi_tsfn_nonblocking);
}

// Every datagram of the socket: SRTP of the call is taken (from the peer, or from the TURN server
// as ChannelData on our channel: unwrapped first); anything else goes to werift as it came.
static void handle_datagram(PnReceiver *r, const uint8_t *dgram, size_t dgram_len,
                            const struct sockaddr_storage *from, int64_t t) {
  const uint8_t *buf = dgram;
  size_t n = dgram_len;
  if (!same_peer(r, from)) return forward(r, dgram, dgram_len, from);
  if (r->channel != 0) {
    uint16_t ch = 0, dlen = 0;
    if (pn_channel_data_parse(dgram, dgram_len, &ch, &buf, &dlen) != PN_CHANNEL_OK ||
        ch != r->channel)
      return forward(r, dgram, dgram_len, from);  // STUN (refresh, permission), another channel
    n = dlen;
  }
  if (n < 12 + TAG_LEN || buf[0] >> 6 != 2 || !r->pt_ok[buf[1] & 0x7f])
    return forward(r, dgram, dgram_len, from);
  uint32_t ssrc = be32(buf + 8);
  size_t hl = 12 + 4 * (size_t)(buf[0] & 0x0f);
  if (buf[0] & 0x10) {
    if (n < hl + 4) return forward(r, dgram, dgram_len, from);
    hl += 4 + 4 * (size_t)be16(buf + hl + 2);
  }
  if (hl + TAG_LEN > n) return forward(r, dgram, dgram_len, from);
  uint16_t seq = be16(buf + 2);
  pthread_mutex_lock(&r->mu);
  SsrcState *st = find_ssrc(r, ssrc);
  if (st == NULL) {
    // The first packet of an SSRC goes through werift (its statistics, RTCP and ROC state);
    // JavaScript then tells us the SSRC (learnSsrc) and buffers that packet (insert).
    pthread_mutex_unlock(&r->mu);
    return forward(r, dgram, dgram_len, from);
  }
  uint32_t roc = guess_roc(st->roc, st->last_seq, seq);
  uint64_t index = packet_index(roc, seq);
  if (replay_check(r, st, index) != REPLAY_FRESH) {
    // RFC 3711 §3.3 step 2: a replayed or too old packet is dropped before its tag is checked.
    pthread_mutex_unlock(&r->mu);
    return;
  }
  uint8_t plain[MAX_DGRAM];
  int ok = pn_gcm_open(r->gcm, r->salt, buf, n, hl, roc, plain);
  if (ok != 1) {
    // RFC 3711 §3.3: a packet that does not authenticate is dropped.
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_add(&r->auth_failures, 1);
    return;
  }
  replay_commit(st, index);
  size_t end = n - TAG_LEN;
  if (buf[0] & 0x20) {  // RFC 3550 §5.1 padding
    uint8_t pad = plain[end - 1];
    if (pad == 0 || pad > end - hl) {
      pthread_mutex_unlock(&r->mu);
      return;
    }
    end -= pad;
  }
  buffer_packet(r, seq, be32(plain + 4), ssrc, (buf[1] & 0x80) != 0, buf[1] & 0x7f, plain + hl,
                end - hl, hl, t, false);
  pthread_mutex_unlock(&r->mu);
  atomic_fetch_add(&r->packets, 1);
  atomic_fetch_add(&r->bytes, (uint64_t)(end - hl));
}

static void read_socket(PnReceiver *r, uint8_t *buf) {
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(r->fd, buf, MAX_DGRAM, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
    if (n < 0) {
      // EAGAIN: all read. ECONNREFUSED and the like (an ICMP error for an earlier send) are not
      // fatal to a UDP socket.
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno != EINTR) atomic_fetch_add(&r->socket_errors, 1);
      continue;
    }
    handle_datagram(r, buf, (size_t)n, &from, now_ns());
  }
}

// The I/O thread: the socket once start() was called, and the paced device once startPaced()
// was; the eventfd wakes it for either change and to stop.
static void *io_thread(void *arg) {
  PnReceiver *r = arg;
  uint8_t buf[MAX_DGRAM];
  while (!atomic_load(&r->stop)) {
    int64_t wake = -1;
    pthread_mutex_lock(&r->mu);
    if (r->paced) {
      int64_t now = now_ns();
      paced_fill(r, TIMER_SLACK, now);
      wake = paced_wake(r, now);
    }
    pthread_mutex_unlock(&r->mu);
    bool reading = atomic_load(&r->reading);
    struct pollfd fds[2] = {{.fd = reading ? r->fd : -1, .events = POLLIN},
                            {.fd = r->wake_fd, .events = POLLIN}};
    struct timespec ts, *tp = NULL;
    if (wake >= 0) {
      int64_t d = wake - now_ns();
      if (d < 0) d = 0;
      ts.tv_sec = d / 1000000000LL;
      ts.tv_nsec = d % 1000000000LL;
      tp = &ts;
    }
    int rc = ppoll(fds, 2, tp, NULL);
    if (rc < 0) {
      if (errno == EINTR) continue;
      atomic_fetch_add(&r->socket_errors, 1);
      break;
    }
    if (fds[1].revents) {
      uint64_t v;
      ssize_t got = read(r->wake_fd, &v, sizeof v);
      (void)got;
    }
    if (reading && fds[0].revents) read_socket(r, buf);
  }
  return NULL;
}

// Starts the I/O thread if it is not running, else wakes it to see a change (JavaScript thread).
static bool run_io(PnReceiver *r) {
  if (r->thread_started) {
    uint64_t one = 1;
    ssize_t w = write(r->wake_fd, &one, sizeof one);
    (void)w;
    return true;
  }
  if (pthread_create(&r->thread, NULL, io_thread, r) != 0) return false;
  r->thread_started = true;
  return true;
}

// ---------------------------------------------------------------------------------------------
// JavaScript side

// Delivers the datagrams for werift: cb(buffer, address, port, family) each.
static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  PnReceiver *r = context;
  atomic_store(&r->notify_pending, 0);
  pthread_mutex_lock(&r->fwd_mu);
  Fwd *list = r->fwd_head;
  r->fwd_head = r->fwd_tail = NULL;
  r->fwd_count = 0;
  pthread_mutex_unlock(&r->fwd_mu);
  while (list) {
    Fwd *f = list;
    list = f->next;
    if (env != NULL && cb != NULL && !atomic_load(&r->closed)) {
      char addr[INET6_ADDRSTRLEN] = "";
      int port = 0;
      const char *family = "IPv4";
      if (f->from.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&f->from;
        inet_ntop(AF_INET, &a->sin_addr, addr, sizeof addr);
        port = ntohs(a->sin_port);
      } else {
        const struct sockaddr_in6 *a = (const void *)&f->from;
        inet_ntop(AF_INET6, &a->sin6_addr, addr, sizeof addr);
        port = ntohs(a->sin6_port);
        family = "IPv6";
      }
      napi_value argv[4], undef, buffer;
      void *copy;
      if (napi_create_buffer_copy(env, f->len, f->data, &copy, &buffer) == napi_ok) {
        argv[0] = buffer;
        napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &argv[1]);
        napi_create_int32(env, port, &argv[2]);
        napi_create_string_utf8(env, family, NAPI_AUTO_LENGTH, &argv[3]);
        napi_get_undefined(env, &undef);
        napi_value ignored;
        if (napi_call_function(env, undef, cb, 4, argv, &ignored) == napi_pending_exception) {
          // The JavaScript side catches its own errors; never let one out of a native callback.
          napi_value ex;
          napi_get_and_clear_last_exception(env, &ex);
        }
      }
    }
    free(f);
  }
}

static void tsfn_finalize(napi_env env, void *data, void *hint) { pn_receiver_unref(data); }

static PnReceiver *unwrap_rx(napi_env env, napi_value self, bool must_be_open) {
  PnReceiver *r = NULL;
  if (napi_unwrap(env, self, (void **)&r) != napi_ok || r == NULL || r->magic != RX_MAGIC) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "not a NativeRtpReceiver");
    return NULL;
  }
  if (must_be_open && atomic_load(&r->closed)) {
    pn_throw(env, "RECEIVER_ERR_CLOSED", "the receiver is closed");
    return NULL;
  }
  return r;
}

PnReceiver *pn_receiver_from_js(napi_env env, napi_value v) { return unwrap_rx(env, v, true); }

// Stops both threads and gives the socket back (JavaScript thread). Idempotent.
static void shutdown_rx(PnReceiver *r) {
  if (atomic_exchange(&r->closed, true)) return;
  atomic_store(&r->stop, true);
  if (r->thread_started) {
    uint64_t one = 1;
    ssize_t w = write(r->wake_fd, &one, sizeof one);
    (void)w;
    pthread_join(r->thread, NULL);
    r->thread_started = false;
  }
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  if (r->tsfn) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    r->tsfn = NULL;
  }
}

static void rx_finalize(napi_env env, void *data, void *hint) {
  PnReceiver *r = data;
  shutdown_rx(r);
  pn_receiver_unref(r);
}

static bool opt_int(napi_env env, napi_value o, const char *key, int64_t lo, int64_t hi,
                    int64_t *out) {
  return pn_opt_int(env, o, key, lo, hi, "RECEIVER_ERR_BAD_ARG", out);
}

static bool opt_num(napi_env env, napi_value o, const char *key, double lo, double hi,
                    double *out) {
  napi_value v;
  if (napi_get_named_property(env, o, key, &v) != napi_ok) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "cannot read option %s", key);
    return false;
  }
  if (napi_get_value_double(env, v, out) != napi_ok || !(*out >= lo && *out <= hi)) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "%s must be a number in [%g, %g]", key, lo, hi);
    return false;
  }
  return true;
}

static bool opt_bytes(napi_env env, napi_value o, const char *key, uint8_t **data, size_t *len) {
  return pn_opt_bytes(env, o, key, "RECEIVER_ERR_BAD_ARG", data, len);
}

// new NativeRtpReceiver({fd, address: Uint8Array(4|16), port, payloadTypes: Uint8Array, key,
//   salt, jitter: {tickMs, minDelayMs, maxDelayMs, inOrderQuantile, accelerateAtTicks,
//   initialDelayMs}, channel?}, onDatagram(buffer, address, port, family)). `channel`
//   (0x4000..0x7fff): the relayed edge, address:port is the TURN server, and the call's SRTP
//   comes from it as ChannelData on that channel.
static napi_value rx_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  napi_valuetype t0, t1;
  napi_typeof(env, argv[0], &t0);
  napi_typeof(env, argv[1], &t1);
  if (t0 != napi_object || t1 != napi_function) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "expected (options, onDatagram)");
    return NULL;
  }
  napi_value o = argv[0], jo;
  int64_t fd, port, channel;
  uint8_t *addr, *key, *salt, *pts;
  size_t addr_len, key_len, salt_len, pts_len;
  if (!opt_int(env, o, "fd", -1, INT32_MAX, &fd) || !opt_int(env, o, "port", 1, 65535, &port) ||
      !pn_opt_int_or(env, o, "channel", PN_CHANNEL_MIN, PN_CHANNEL_MAX, 0,
                     "RECEIVER_ERR_BAD_ARG", &channel) ||
      !opt_bytes(env, o, "address", &addr, &addr_len) ||
      !opt_bytes(env, o, "payloadTypes", &pts, &pts_len) ||
      !opt_bytes(env, o, "key", &key, &key_len) || !opt_bytes(env, o, "salt", &salt, &salt_len))
    return NULL;
  if (napi_get_named_property(env, o, "jitter", &jo) != napi_ok) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "cannot read option jitter");
    return NULL;
  }
  PnJbOptions jbo;
  pn_jb_default_options(&jbo);
  int64_t tick_ms;
  double accel;
  if (!opt_int(env, jo, "tickMs", 5, 20, &tick_ms) ||
      !opt_num(env, jo, "minDelayMs", 0, 10000, &jbo.min_delay_ms) ||
      !opt_num(env, jo, "maxDelayMs", 0, 10000, &jbo.max_delay_ms) ||
      !opt_num(env, jo, "inOrderQuantile", 0, 1, &jbo.in_order_quantile) ||
      !opt_num(env, jo, "accelerateAtTicks", 0, 100, &accel) ||
      !opt_num(env, jo, "initialDelayMs", 0, 10000, &jbo.initial_delay_ms))
    return NULL;
  jbo.tick_ms = (int)tick_ms;
  jbo.accelerate_at_ticks = accel;
  if (addr_len != 4 && addr_len != 16) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "address must be 4 (IPv4) or 16 (IPv6) bytes");
    return NULL;
  }
  if (key_len != 16 && key_len != 32) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "key must be 16 or 32 bytes, got %zu", key_len);
    return NULL;
  }
  if (salt_len != PN_GCM_SALT_LEN) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "salt must be %d bytes, got %zu", PN_GCM_SALT_LEN,
             salt_len);
    return NULL;
  }
  if (pts_len == 0) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "payloadTypes must not be empty");
    return NULL;
  }
  for (size_t i = 0; i < pts_len; i++) {
    if (pts[i] > 127) {
      pn_throw(env, "RECEIVER_ERR_BAD_ARG", "payload type %u is not 0..127", pts[i]);
      return NULL;
    }
  }
  int type = 0;
  socklen_t tl = sizeof type;
  // fd -1: no socket (the werift edge): packets come only through insert().
  if (fd >= 0 && (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM)) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "fd %lld is not a datagram socket", (long long)fd);
    return NULL;
  }
  const char *why = NULL;
  PnJb *jb = pn_jb_new(&jbo, &why);
  if (jb == NULL) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "jitter buffer: %s", why ? why : "cannot create");
    return NULL;
  }
  PnReceiver *r = calloc(1, sizeof *r);
  if (r == NULL) {
    pn_jb_free(jb);
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "out of memory");
    return NULL;
  }
  r->magic = RX_MAGIC;
  atomic_init(&r->refs, 1);
  r->jb = jb;
  r->tick = pn_jb_tick_samples(jb);
  r->fd = -1;
  r->wake_fd = -1;
  r->period = 480;
  r->volume_q16 = 65536;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->fwd_mu, NULL);
  if (addr_len == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&r->peer;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, addr, 4);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&r->peer;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    memcpy(&a->sin6_addr, addr, 16);
  }
  r->channel = (uint16_t)channel;
  for (size_t i = 0; i < pts_len; i++) r->pt_ok[pts[i]] = true;
  memcpy(r->salt, salt, PN_GCM_SALT_LEN);
  r->gcm = pn_gcm_new_decrypt(key, key_len);
  r->fd = fd < 0 ? -1 : fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  r->pcm_ring = malloc(PCM_RING * sizeof *r->pcm_ring);
  r->probes = calloc(PROBE_RING, sizeof *r->probes);
  if (r->tick > MAX_TICK || r->gcm == NULL || (fd >= 0 && r->fd < 0) || r->wake_fd < 0 ||
      r->pcm_ring == NULL || r->probes == NULL) {
    const char *what = r->tick > MAX_TICK ? "jitter-buffer tick longer than 20 ms"
                       : r->gcm == NULL   ? "cannot set up AES-GCM"
                       : r->fd < 0        ? "cannot duplicate the socket"
                                          : "out of memory";
    receiver_free(r);
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "%s", what);
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "parloir-receiver", NAPI_AUTO_LENGTH, &name);
  pn_receiver_ref(r);  // the thread-safe function's
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, r, tsfn_finalize, r,
                                      call_js, &r->tsfn) != napi_ok) {
    r->tsfn = NULL;
    atomic_store(&r->refs, 1);
    receiver_free(r);
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "cannot create the thread-safe function");
    return NULL;
  }
  // Datagrams for werift must not keep the process alive on their own.
  napi_unref_threadsafe_function(env, r->tsfn);
  if (napi_wrap(env, self, r, rx_finalize, NULL, NULL) != napi_ok) {
    napi_release_threadsafe_function(r->tsfn, napi_tsfn_abort);
    r->tsfn = NULL;
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "napi_wrap failed");
    pn_receiver_unref(r);
    return NULL;
  }
  return self;
}

// start(): starts reading the socket (after JavaScript has stopped libuv reading it).
static napi_value rx_start(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  if (r == NULL) return NULL;
  if (atomic_load(&r->reading)) {
    pn_throw(env, "RECEIVER_ERR_STATE", "the receiver is already reading");
    return NULL;
  }
  if (r->fd < 0) {
    pn_throw(env, "RECEIVER_ERR_STATE", "no socket: packets come through insert()");
    return NULL;
  }
  atomic_store(&r->reading, true);
  if (!run_io(r)) {
    atomic_store(&r->reading, false);
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "cannot start the receiver's thread");
    return NULL;
  }
  return NULL;
}

// startPaced(keepPcm: boolean): plays out on this receiver's own thread, paced on
// CLOCK_MONOTONIC like a sound card (`wav:`/`null` devices); with keepPcm the played audio,
// silence included, is kept for takePcm().
static napi_value rx_start_paced(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  bool keep;
  if (r == NULL || !pn_bool(env, argv[0], "RECEIVER_ERR_BAD_ARG", "keepPcm", &keep)) return NULL;
  pthread_mutex_lock(&r->mu);
  bool already = r->paced;
  if (!already) {
    r->paced = true;
    r->keep_pcm = keep;
    r->t0_ns = now_ns();
    r->written = 0;
  }
  pthread_mutex_unlock(&r->mu);
  if (already) {
    pn_throw(env, "RECEIVER_ERR_STATE", "the receiver is already playing out");
    return NULL;
  }
  if (!run_io(r)) {
    pthread_mutex_lock(&r->mu);
    r->paced = false;
    pthread_mutex_unlock(&r->mu);
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "cannot start the receiver's thread");
    return NULL;
  }
  return NULL;
}

// setPeriodSamples(n): the paced device's period.
static napi_value rx_set_period(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  int64_t n;
  if (r == NULL || !pn_int(env, argv[0], 48, RATE, "RECEIVER_ERR_BAD_ARG", "periodSamples", &n))
    return NULL;
  pthread_mutex_lock(&r->mu);
  r->period = (uint32_t)n;
  pthread_mutex_unlock(&r->mu);
  if (r->thread_started) run_io(r);
  return NULL;
}

// setVolumeQ16(q16): output volume, linear gain × 65536 (0 = silent, 65536 = as decoded, ≤ 4×).
static napi_value rx_set_volume(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  int64_t q;
  if (r == NULL ||
      !pn_int(env, argv[0], 0, 4 * 65536, "RECEIVER_ERR_BAD_ARG", "volumeQ16", &q))
    return NULL;
  pthread_mutex_lock(&r->mu);
  r->volume_q16 = (int32_t)q;
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

// setBounds(minMs, maxMs)
static napi_value rx_set_bounds(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  double lo, hi;
  if (r == NULL || napi_get_value_double(env, argv[0], &lo) != napi_ok ||
      napi_get_value_double(env, argv[1], &hi) != napi_ok || !(lo >= 0 && hi >= lo && hi <= 10000)) {
    if (r != NULL) pn_throw(env, "RECEIVER_ERR_BAD_ARG", "bounds must be 0 <= min <= max <= 10000 ms");
    return NULL;
  }
  pthread_mutex_lock(&r->mu);
  int rc = pn_jb_set_bounds(r->jb, lo, hi);
  pthread_mutex_unlock(&r->mu);
  if (rc != 0) pn_throw(env, "RECEIVER_ERR_BAD_ARG", "bounds refused by the jitter buffer");
  return NULL;
}

// learnSsrc(ssrc, rolloverCounter, lastSequenceNumber, received?: Float64Array): werift has seen
// this SSRC; its packets are now opened here, continuing werift's ROC state. For an SSRC already
// known the state only moves forward (werift's lags behind ours, and follows any packet it
// opened, old ones too). `received`: packet indices already received on another path (the
// JavaScript replay list), entered into this SSRC's replay list.
static napi_value rx_learn_ssrc(napi_env env, napi_callback_info info) {
  napi_value argv[4], self;
  if (!pn_args(env, info, 4, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  int64_t ssrc, roc, seq;
  if (r == NULL || !pn_int(env, argv[0], 0, UINT32_MAX, "RECEIVER_ERR_BAD_ARG", "ssrc", &ssrc) ||
      !pn_int(env, argv[1], 0, UINT32_MAX, "RECEIVER_ERR_BAD_ARG", "rolloverCounter", &roc) ||
      !pn_int(env, argv[2], 0, 65535, "RECEIVER_ERR_BAD_ARG", "lastSequenceNumber", &seq))
    return NULL;
  napi_valuetype t;
  double *received = NULL;
  size_t n_received = 0;
  if (napi_typeof(env, argv[3], &t) == napi_ok && t != napi_undefined) {
    if (!pn_typed(env, argv[3], napi_float64_array, "RECEIVER_ERR_BAD_ARG", "received",
                  (void **)&received, &n_received))
      return NULL;
    for (size_t i = 0; i < n_received; i++) {
      double x = received[i];
      if (!(x >= 0 && x <= 281474976710655.0 && x == (double)(uint64_t)x)) {
        pn_throw(env, "RECEIVER_ERR_BAD_ARG", "received[%zu] is not a 48-bit packet index", i);
        return NULL;
      }
    }
  }
  pthread_mutex_lock(&r->mu);
  uint64_t index = packet_index((uint32_t)roc, (uint16_t)seq);
  SsrcState *st = find_ssrc(r, (uint32_t)ssrc);
  if (st != NULL) {
    replay_commit(st, index);
  } else {
    for (int i = 0; st == NULL && i < MAX_SSRC; i++)
      if (!r->ssrcs[i].used) st = &r->ssrcs[i];
    if (st == NULL) st = &r->ssrcs[(uint32_t)ssrc % MAX_SSRC];  // many SSRCs: replace one
    st->used = true;
    st->ssrc = (uint32_t)ssrc;
    st->roc = (uint32_t)roc;
    st->last_seq = (uint16_t)seq;
    for (int i = 0; i < REPLAY_WINDOW; i++) st->seen[i] = NO_INDEX;
    st->seen[index % REPLAY_WINDOW] = index;
  }
  for (size_t i = 0; i < n_received; i++) {
    uint64_t x = (uint64_t)received[i];
    uint64_t highest = packet_index(st->roc, st->last_seq);
    if (x > highest || highest - x < REPLAY_WINDOW) replay_commit(st, x);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

// ssrcStates(): Float64Array of [ssrc, rolloverCounter, lastSequenceNumber] triplets.
static napi_value rx_ssrc_states(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  if (r == NULL) return NULL;
  double v[MAX_SSRC * 3];
  size_t n = 0;
  pthread_mutex_lock(&r->mu);
  for (int i = 0; i < MAX_SSRC; i++) {
    if (!r->ssrcs[i].used) continue;
    v[n++] = r->ssrcs[i].ssrc;
    v[n++] = r->ssrcs[i].roc;
    v[n++] = r->ssrcs[i].last_seq;
  }
  pthread_mutex_unlock(&r->mu);
  napi_value ab, arr;
  double *dst;
  if (napi_create_arraybuffer(env, n * sizeof(double), (void **)&dst, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, n, ab, 0, &arr) != napi_ok) {
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "cannot allocate");
    return NULL;
  }
  memcpy(dst, v, n * sizeof(double));
  return arr;
}

// insert(seq, ts, ssrc, marker, payloadType, payload, headerBytes, rolloverCounter): a packet
// werift received and authenticated with that ROC (the first of an SSRC, or one from another
// address), buffered now unless the SSRC's replay list has it or it is too old → whether it was.
static napi_value rx_insert(napi_env env, napi_callback_info info) {
  napi_value argv[8], self;
  if (!pn_args(env, info, 8, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, true);
  int64_t seq, ts, ssrc, pt, hl, roc;
  bool marker;
  uint8_t *payload;
  size_t len;
  if (r == NULL || !pn_int(env, argv[0], 0, 65535, "RECEIVER_ERR_BAD_ARG", "sequenceNumber", &seq) ||
      !pn_int(env, argv[1], 0, UINT32_MAX, "RECEIVER_ERR_BAD_ARG", "timestamp", &ts) ||
      !pn_int(env, argv[2], 0, UINT32_MAX, "RECEIVER_ERR_BAD_ARG", "ssrc", &ssrc) ||
      !pn_bool(env, argv[3], "RECEIVER_ERR_BAD_ARG", "marker", &marker) ||
      !pn_int(env, argv[4], 0, 127, "RECEIVER_ERR_BAD_ARG", "payloadType", &pt) ||
      !pn_typed(env, argv[5], napi_uint8_array, "RECEIVER_ERR_BAD_ARG", "payload",
                (void **)&payload, &len) ||
      !pn_int(env, argv[6], 12, 65535, "RECEIVER_ERR_BAD_ARG", "headerBytes", &hl) ||
      !pn_int(env, argv[7], 0, UINT32_MAX, "RECEIVER_ERR_BAD_ARG", "rolloverCounter", &roc))
    return NULL;
  if (len > MAX_DGRAM) {
    pn_throw(env, "RECEIVER_ERR_BAD_ARG", "payload of %zu bytes is too long", len);
    return NULL;
  }
  int64_t t = now_ns();
  pthread_mutex_lock(&r->mu);
  SsrcState *st = find_ssrc(r, (uint32_t)ssrc);
  uint64_t index = packet_index((uint32_t)roc, (uint16_t)seq);
  bool fresh = st == NULL || replay_check(r, st, index) == REPLAY_FRESH;
  if (fresh) {
    if (st != NULL) replay_commit(st, index);
    buffer_packet(r, (uint16_t)seq, (uint32_t)ts, (uint32_t)ssrc, marker, (uint8_t)pt, payload,
                  len, (size_t)hl, t, true);
  }
  pthread_mutex_unlock(&r->mu);
  if (fresh) {
    atomic_fetch_add(&r->packets, 1);
    atomic_fetch_add(&r->bytes, (uint64_t)len);
  }
  napi_value result;
  napi_get_boolean(env, fresh, &result);
  return result;
}

static napi_value f64_array(napi_env env, size_t n, double **dst) {
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, n * sizeof(double), (void **)dst, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, n, ab, 0, &arr) != napi_ok) {
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "cannot allocate");
    return NULL;
  }
  return arr;
}

#define RECORD_FIELDS 10

// takeRecords(): Float64Array of [sequenceNumber, timestamp, ssrc, marker, payloadType,
// payloadBytes, headerBytes, arrivalMonotonicMs, insertOutcome, insertedFromJs] per packet since
// the last call.
static napi_value rx_take_records(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  if (r == NULL) return NULL;
  pthread_mutex_lock(&r->mu);
  size_t n = (size_t)(r->rec_w - r->rec_r);
  double *d = NULL;
  napi_value arr = f64_array(env, n * RECORD_FIELDS, &d);
  if (arr != NULL) {
    for (size_t i = 0; i < n; i++) {
      const Record *rec = &r->records[(r->rec_r + i) & (RECORD_RING - 1)];
      double *x = d + i * RECORD_FIELDS;
      x[0] = rec->seq;
      x[1] = rec->ts;
      x[2] = rec->ssrc;
      x[3] = rec->marker;
      x[4] = rec->pt;
      x[5] = rec->payload_bytes;
      x[6] = rec->header_bytes;
      x[7] = rec->arrival_ms;
      x[8] = rec->outcome;
      x[9] = rec->via_js;
    }
    r->rec_r = r->rec_w;
  }
  pthread_mutex_unlock(&r->mu);
  return arr;
}

// takePcm(): Int16Array of the audio the paced device played since the last call (keepPcm).
static napi_value rx_take_pcm(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  if (r == NULL) return NULL;
  pthread_mutex_lock(&r->mu);
  size_t n = (size_t)(r->pcm_w - r->pcm_r);
  napi_value ab, arr = NULL;
  int16_t *dst;
  if (napi_create_arraybuffer(env, n * sizeof(int16_t), (void **)&dst, &ab) == napi_ok &&
      napi_create_typedarray(env, napi_int16_array, n, ab, 0, &arr) == napi_ok) {
    for (size_t i = 0; i < n; i++) dst[i] = r->pcm_ring[(r->pcm_r + i) & (PCM_RING - 1)];
    r->pcm_r = r->pcm_w;
  } else {
    arr = NULL;
    pn_throw(env, "RECEIVER_ERR_INTERNAL", "cannot allocate");
  }
  pthread_mutex_unlock(&r->mu);
  return arr;
}

// setProbing(on)
static napi_value rx_set_probing(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  bool on;
  if (r == NULL || !pn_bool(env, argv[0], "RECEIVER_ERR_BAD_ARG", "on", &on)) return NULL;
  pthread_mutex_lock(&r->mu);
  r->probing = on;
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

// takeProbes(): {meta: Float64Array of [deviceClock, pullMonotonicMs, decision] per tick,
// pcm: Int16Array of the ticks' audio} since the last call (the oldest lost beyond 512 ticks).
static napi_value rx_take_probes(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  if (r == NULL) return NULL;
  pthread_mutex_lock(&r->mu);
  if (r->probe_w - r->probe_r > PROBE_RING) r->probe_r = r->probe_w - PROBE_RING;
  size_t n = (size_t)(r->probe_w - r->probe_r);
  size_t tick = (size_t)r->tick;
  double *meta = NULL;
  napi_value m = f64_array(env, n * 3, &meta), pab, parr = NULL, res = NULL;
  int16_t *pcm;
  if (m != NULL &&
      napi_create_arraybuffer(env, n * tick * sizeof(int16_t), (void **)&pcm, &pab) == napi_ok &&
      napi_create_typedarray(env, napi_int16_array, n * tick, pab, 0, &parr) == napi_ok) {
    for (size_t i = 0; i < n; i++) {
      const Probe *p = &r->probes[(r->probe_r + i) & (PROBE_RING - 1)];
      meta[3 * i] = p->clock;
      meta[3 * i + 1] = p->pull_ms;
      meta[3 * i + 2] = p->decision;
      memcpy(pcm + i * tick, p->pcm, tick * sizeof *pcm);
    }
    r->probe_r = r->probe_w;
    napi_create_object(env, &res);
    napi_set_named_property(env, res, "meta", m);
    napi_set_named_property(env, res, "pcm", parr);
  }
  pthread_mutex_unlock(&r->mu);
  return res;
}

// stats(): the jitter buffer's counters and the receiver's, times on CLOCK_MONOTONIC.
static napi_value rx_stats(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  if (r == NULL) return NULL;
  PnJbStats s;
  pthread_mutex_lock(&r->mu);
  pn_jb_stats(r->jb, &s);
  double t0 = r->paced ? (double)r->t0_ns / 1e6 : -1;
  double written = (double)r->written, silence = (double)r->silence;
  double lead = r->have_lead ? r->lead_ms : 0;
  double rec_dropped = (double)r->rec_dropped, pcm_dropped = (double)r->pcm_dropped;
  double queued = r->paced ? (double)r->written - (double)paced_due(r, now_ns()) : 0;
  pthread_mutex_unlock(&r->mu);
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "jitterBuffer", pn_jb_stats_js(env, &s));
  pn_set_num(env, o, "packets", (double)atomic_load(&r->packets));
  pn_set_num(env, o, "payloadBytes", (double)atomic_load(&r->bytes));
  pn_set_num(env, o, "authFailures", (double)atomic_load(&r->auth_failures));
  pn_set_num(env, o, "replayed", (double)atomic_load(&r->replayed));
  pn_set_num(env, o, "tooOld", (double)atomic_load(&r->too_old));
  pn_set_num(env, o, "forwarded", (double)atomic_load(&r->forwarded));
  pn_set_num(env, o, "forwardDropped", (double)atomic_load(&r->forward_dropped));
  pn_set_num(env, o, "socketErrors", (double)atomic_load(&r->socket_errors));
  pn_set_num(env, o, "recordsDropped", rec_dropped);
  pn_set_num(env, o, "pcmDropped", pcm_dropped);
  pn_set_num(env, o, "playedSamples", written);
  pn_set_num(env, o, "silenceSamples", silence);
  pn_set_num(env, o, "queuedSamples", queued);
  pn_set_num(env, o, "leadMs", lead);
  pn_set_num(env, o, "startMonotonicMs", t0);
  pn_set_num(env, o, "nowMonotonicMs", (double)now_ns() / 1e6);
  return o;
}

// close(): stops the threads, gives the socket back. Idempotent.
static napi_value rx_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnReceiver *r = unwrap_rx(env, self, false);
  if (r == NULL) return NULL;
  shutdown_rx(r);
  return NULL;
}

napi_value pn_receiver_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", NULL, rx_start, NULL, NULL, NULL, napi_default, NULL},
      {"startPaced", NULL, rx_start_paced, NULL, NULL, NULL, napi_default, NULL},
      {"setPeriodSamples", NULL, rx_set_period, NULL, NULL, NULL, napi_default, NULL},
      {"setBounds", NULL, rx_set_bounds, NULL, NULL, NULL, napi_default, NULL},
      {"setVolumeQ16", NULL, rx_set_volume, NULL, NULL, NULL, napi_default, NULL},
      {"learnSsrc", NULL, rx_learn_ssrc, NULL, NULL, NULL, napi_default, NULL},
      {"ssrcStates", NULL, rx_ssrc_states, NULL, NULL, NULL, napi_default, NULL},
      {"insert", NULL, rx_insert, NULL, NULL, NULL, napi_default, NULL},
      {"takeRecords", NULL, rx_take_records, NULL, NULL, NULL, napi_default, NULL},
      {"takePcm", NULL, rx_take_pcm, NULL, NULL, NULL, napi_default, NULL},
      {"setProbing", NULL, rx_set_probing, NULL, NULL, NULL, napi_default, NULL},
      {"takeProbes", NULL, rx_take_probes, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, rx_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, rx_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativeRtpReceiver", NAPI_AUTO_LENGTH, rx_new, NULL,
                    sizeof methods / sizeof methods[0], methods, &cls);
  napi_set_named_property(env, exports, "NativeRtpReceiver", cls);
  return exports;
}
