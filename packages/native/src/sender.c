// The RTP send path of a call in C: 16-bit PCM frames → gain/mute → Opus → RTP (RFC 3550,
// RFC 7587) → SRTP AEAD_AES_128_GCM (RFC 7714) → sendto() on the call's ICE socket.
//
// Why: in JavaScript every captured frame woke the event loop, and then ran werift's RTP
// serialisation, its SRTP bookkeeping and dgram's send path: about half a client's CPU in a
// call. Here a frame leaves the machine from the thread that captured it and JavaScript is not
// woken at all. The thread is either
// - the sender's own, pacing a PCM source on CLOCK_MONOTONIC like a sound card (the `wav:` and
//   `null` devices): startPaced(), or
// - the ALSA capture thread of pcm.c, which hands each period to pn_sender_feed().
//
// JavaScript sets the encoder parameters, gain, mute and frame size through atomics that the
// sending thread applies before its next frame (libopus is only ever touched by that thread),
// and reads counters (RTCP sender reports, QoS) and, when asked, a ring of per-frame times (the
// latency benchmark's breakdown). werift keeps ICE, DTLS, RTCP and the receive path: the socket
// is a dup() of werift's, so it stays open until this sender closes, whatever werift does.
//
// The werift edge (no socket: fd -1 and an onFrame callback): the same capture, gain and Opus,
// but each encoded frame goes to JavaScript through a thread-safe function, where werift builds
// the RTP packet, seals it (its own SRTP) and sends it, over TURN too. That is the call's network
// edge for relayed pairs, peers on another SRTP profile, and werift internals that changed
// (client transport/media-edge).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <opus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "opus_lbrr.h"
#include <unistd.h>

#include "common.h"
#include "apm_pipe.h"
#include "sender.h"
#include "srtp_gcm.h"
#include "turn_frame.h"

#define SENDER_MAGIC 0x534e4452u  // "SNDR"
#define RATE 48000
#define MAX_FRAME 2880  // 60 ms at 48 kHz
#define MAX_PAYLOAD 1275
#define RTP_HEADER 12
#define PROBE_RING 1024  // power of two

// One encoded frame on its way to JavaScript (werift edge).
typedef struct {
  uint32_t clock;  // capture clock of its first sample (the RTP timestamp less werift's offset)
  bool marker;
  uint16_t len;
  uint8_t data[];
} Frame;

// Most frames waiting for the JavaScript thread (werift edge) before new ones are dropped.
#define MAX_FRAMES_QUEUED 64

typedef struct {
  double clock;        // capture clock (samples) of the frame's first sample
  double captured_ms;  // CLOCK_MONOTONIC when its last sample was captured
  double sent_ms;      // CLOCK_MONOTONIC after sendto()
} Probe;

struct PnSender {
  uint32_t magic;
  _Atomic int refs;  // the JavaScript wrapper + one per attached capture stream
  int fd;            // dup() of the ICE socket, -1 once closed
  struct sockaddr_storage to;
  socklen_t to_len;
  // Relayed edge: the TURN channel bound to the peer (RFC 8656 §12); each packet goes to the
  // relay (`to`) as ChannelData. 0: direct, `to` is the peer.
  uint16_t channel;
  uint32_t ssrc;
  uint8_t payload_type;
  uint32_t ts_offset;
  EVP_CIPHER_CTX *gcm;
  uint8_t salt[PN_GCM_SALT_LEN];
  OpusEncoder *enc;

  // Sending thread state (only one source feeds at a time: feed_mu).
  pthread_mutex_t feed_mu;
  uint16_t seq;
  uint32_t roc;
  bool marker;
  int16_t acc[MAX_FRAME];
  uint32_t acc_n;
  uint32_t acc_frame;  // frame size latched when the frame's first sample came in
  uint64_t clock;      // samples fed so far (capture clock)
  int32_t have_bitrate, have_fec, have_loss, have_dtx;

  // Asked by JavaScript, applied by the sending thread.
  _Atomic int32_t want_bitrate, want_fec, want_loss, want_dtx;
  _Atomic uint32_t frame_samples;
  _Atomic int32_t gain_q16;  // linear gain × 65536
  _Atomic int32_t peak;      // largest |sample| after gain since the last takePeak() (meter)
  _Atomic bool muted;
  _Atomic bool closed;

  // Published by the sending thread.
  _Atomic uint64_t packets;
  _Atomic uint64_t payload_bytes;
  _Atomic uint64_t lbrr_packets;  // frames whose Opus packet carries in-band FEC (opus_lbrr.h)
  _Atomic uint64_t send_errors;
  _Atomic int last_errno;
  _Atomic uint32_t last_timestamp;  // RTP timestamp of the last packet sent
  _Atomic int64_t last_send_ns;     // CLOCK_MONOTONIC
  _Atomic int64_t start_ns;         // paced source: CLOCK_MONOTONIC of capture sample 0, or -1
  _Atomic uint64_t clock_pub;       // samples fed so far

  // Per-frame probe ring (benchmark), written by the thread, read by JavaScript.
  _Atomic bool probing;
  Probe probes[PROBE_RING];
  _Atomic uint64_t probe_w;
  uint64_t probe_r;

  // werift edge: encoded frames go to JavaScript (under feed_mu; NULL on the socket edge).
  napi_threadsafe_function tsfn;
  bool tsfn_live;

  // Audio processing of the capture (apm_pipe.cc): set once, released with the sender.
  _Atomic(PnApmPipe *) apm;

  // Paced source.
  int16_t *src;
  size_t src_len;
  pthread_t thread;
  bool thread_started;
  _Atomic bool stop;
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sender_free(PnSender *s) {
  if (s->fd >= 0) close(s->fd);
  if (s->gcm) pn_gcm_free(s->gcm);
  if (s->enc) opus_encoder_destroy(s->enc);
  memset(s->salt, 0, sizeof s->salt);
  free(s->src);
  PnApmPipe *apm = atomic_load(&s->apm);
  if (apm) pn_apm_pipe_unref(apm);
  pthread_mutex_destroy(&s->feed_mu);
  s->magic = 0;
  free(s);
}

void pn_sender_ref(PnSender *s) { atomic_fetch_add(&s->refs, 1); }

void pn_sender_unref(PnSender *s) {
  if (atomic_fetch_sub(&s->refs, 1) == 1) sender_free(s);
}

bool pn_sender_set_apm(PnSender *s, PnApmPipe *p) {
  PnApmPipe *none = NULL;
  pn_apm_pipe_ref(p);
  if (atomic_compare_exchange_strong(&s->apm, &none, p)) return true;
  pn_apm_pipe_unref(p);
  return false;
}

static void apply_settings(PnSender *s) {
  int32_t v = atomic_load(&s->want_bitrate);
  if (v != s->have_bitrate && opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(v)) == OPUS_OK)
    s->have_bitrate = v;
  v = atomic_load(&s->want_fec);
  if (v != s->have_fec && opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(v)) == OPUS_OK)
    s->have_fec = v;
  v = atomic_load(&s->want_loss);
  if (v != s->have_loss && opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(v)) == OPUS_OK)
    s->have_loss = v;
  v = atomic_load(&s->want_dtx);
  if (v != s->have_dtx && opus_encoder_ctl(s->enc, OPUS_SET_DTX(v)) == OPUS_OK) s->have_dtx = v;
}

// Counts a frame handed to the network edge (and its probe).
static void sent(PnSender *s, opus_int32 bytes, uint32_t ts, uint64_t clock, int64_t t_cap,
                 int64_t t_sent) {
  atomic_fetch_add(&s->packets, 1);
  atomic_fetch_add(&s->payload_bytes, (uint64_t)bytes);
  atomic_store(&s->last_timestamp, ts);
  atomic_store(&s->last_send_ns, t_sent);
  if (atomic_load_explicit(&s->probing, memory_order_relaxed)) {
    uint64_t w = atomic_load_explicit(&s->probe_w, memory_order_relaxed);
    Probe *p = &s->probes[w & (PROBE_RING - 1)];
    p->clock = (double)clock;
    p->captured_ms = (double)t_cap / 1e6;
    p->sent_ms = (double)t_sent / 1e6;
    atomic_store_explicit(&s->probe_w, w + 1, memory_order_release);
  }
}

// werift edge: hands one encoded frame to the JavaScript thread (werift makes the RTP packet
// and seals it there). Called with feed_mu held; a full queue drops the frame like a full socket
// buffer would.
static void to_javascript(PnSender *s, const uint8_t *payload, opus_int32 bytes, uint64_t clock,
                          int64_t t_cap) {
  Frame *f = s->tsfn_live ? malloc(sizeof *f + (size_t)bytes) : NULL;
  if (f == NULL) {
    atomic_fetch_add(&s->send_errors, 1);
    atomic_store(&s->last_errno, s->tsfn_live ? ENOMEM : EPIPE);
    return;
  }
  f->clock = (uint32_t)clock;
  f->marker = s->marker;
  f->len = (uint16_t)bytes;
  memcpy(f->data, payload, (size_t)bytes);
  if (napi_call_threadsafe_function(s->tsfn, f, napi_tsfn_nonblocking) != napi_ok) {
    free(f);
    atomic_fetch_add(&s->send_errors, 1);
    atomic_store(&s->last_errno, ENOBUFS);
    return;
  }
  s->marker = false;
  sent(s, bytes, (uint32_t)clock, clock, t_cap, now_ns());
}

// Encodes, seals and sends one frame of `n` samples whose first sample is capture sample
// `clock`. Called with feed_mu held.
static void send_frame(PnSender *s, int16_t *pcm, uint32_t n, uint64_t clock, int64_t t_cap) {
  apply_settings(s);
  PnApmPipe *apm = atomic_load(&s->apm);
  if (apm) pn_apm_pipe_capture(apm, pcm, n, t_cap);  // echo cancellation, NS, AGC
  // Gain, then the level meter's peak (the microphone as gained, muted or not), then mute.
  int32_t g = atomic_load(&s->gain_q16);
  int32_t peak = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (g != 65536) {
      int64_t x = ((int64_t)pcm[i] * g) >> 16;
      pcm[i] = (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
    }
    int32_t a = pcm[i] < 0 ? -(int32_t)pcm[i] : pcm[i];
    if (a > peak) peak = a;
  }
  int32_t cur = atomic_load(&s->peak);
  while (peak > cur && !atomic_compare_exchange_weak(&s->peak, &cur, peak)) {
  }
  if (atomic_load(&s->muted)) memset(pcm, 0, n * sizeof *pcm);
  uint8_t payload[MAX_PAYLOAD];
  opus_int32 bytes = opus_encode(s->enc, pcm, (int)n, payload, MAX_PAYLOAD);
  if (bytes < 0) {
    atomic_fetch_add(&s->send_errors, 1);
    atomic_store(&s->last_errno, EINVAL);
    return;
  }
  if (pn_opus_has_lbrr(payload, (size_t)bytes)) atomic_fetch_add(&s->lbrr_packets, 1);
  if (s->fd < 0) {
    to_javascript(s, payload, bytes, clock, t_cap);
    return;
  }
  // RFC 3550 §5.1 header: V=2, no padding, extension or CSRC; RFC 7587 §4.1: the timestamp
  // counts 48 kHz samples, here the capture clock plus a random offset.
  uint32_t ts = (uint32_t)clock + s->ts_offset;
  uint8_t hdr[RTP_HEADER] = {
      0x80,
      (uint8_t)((s->marker ? 0x80 : 0) | (s->payload_type & 0x7f)),
      (uint8_t)(s->seq >> 8),
      (uint8_t)s->seq,
      (uint8_t)(ts >> 24),
      (uint8_t)(ts >> 16),
      (uint8_t)(ts >> 8),
      (uint8_t)ts,
      (uint8_t)(s->ssrc >> 24),
      (uint8_t)(s->ssrc >> 16),
      (uint8_t)(s->ssrc >> 8),
      (uint8_t)s->ssrc,
  };
  uint8_t dgram[PN_CHANNEL_HEADER + RTP_HEADER + MAX_PAYLOAD + PN_GCM_TAG_LEN];
  uint8_t *out = dgram + PN_CHANNEL_HEADER;
  size_t len = RTP_HEADER + (size_t)bytes + PN_GCM_TAG_LEN;
  if (!pn_gcm_seal(s->gcm, s->salt, hdr, RTP_HEADER, payload, (size_t)bytes, s->roc, out)) {
    atomic_fetch_add(&s->send_errors, 1);
    atomic_store(&s->last_errno, EPROTO);
    return;
  }
  s->marker = false;
  // RFC 3711 §3.3.1: the rollover counter counts wraps of the 16-bit sequence number.
  s->seq = (uint16_t)(s->seq + 1);
  if (s->seq == 0) s->roc++;
  if (s->channel != 0) {
    // Over UDP no padding is needed (RFC 8656 §12.5).
    out = dgram;
    pn_channel_data_header(out, s->channel, (uint16_t)len);
    len += PN_CHANNEL_HEADER;
  }
  ssize_t rc = sendto(s->fd, out, len, MSG_DONTWAIT, (struct sockaddr *)&s->to, s->to_len);
  int64_t t_sent = now_ns();
  if (rc < 0) {
    // Lost like on any network (a full socket buffer, an unreachable peer): count and go on.
    atomic_fetch_add(&s->send_errors, 1);
    atomic_store(&s->last_errno, errno);
  }
  sent(s, bytes, ts, clock, t_cap, t_sent);
}

void pn_sender_feed(PnSender *s, const int16_t *pcm, size_t n) {
  if (atomic_load(&s->closed)) return;
  int64_t t = now_ns();
  pthread_mutex_lock(&s->feed_mu);
  while (n > 0 && (s->fd >= 0 || s->tsfn_live)) {
    if (s->acc_n == 0) {
      uint32_t f = atomic_load(&s->frame_samples);
      s->acc_frame = f == 0 || f > MAX_FRAME ? 960 : f;
    }
    size_t take = s->acc_frame - s->acc_n;
    if (take > n) take = n;
    memcpy(s->acc + s->acc_n, pcm, take * sizeof *pcm);
    s->acc_n += (uint32_t)take;
    pcm += take;
    n -= take;
    s->clock += take;
    if (s->acc_n == s->acc_frame) {
      send_frame(s, s->acc, s->acc_n, s->clock - s->acc_n, t);
      s->acc_n = 0;
    }
  }
  atomic_store(&s->clock_pub, s->clock);
  pthread_mutex_unlock(&s->feed_mu);
}

// The paced source: one frame when its last sample is due on CLOCK_MONOTONIC (absolute due
// times, so it never drifts), from the PCM given to startPaced() and then silence.
static void *paced_thread(void *arg) {
  PnSender *s = arg;
  int16_t frame[MAX_FRAME];
  int64_t start = now_ns();
  atomic_store(&s->start_ns, start);
  uint64_t pos = 0;
  while (!atomic_load(&s->stop)) {
    uint32_t f = atomic_load(&s->frame_samples);
    if (f == 0 || f > MAX_FRAME) f = 960;
    int64_t due = start + (int64_t)((pos + f) * 1000000000ULL / RATE);
    struct timespec ts = {.tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL};
    int rc;
    do {
      rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    } while (rc == EINTR && !atomic_load(&s->stop));
    if (atomic_load(&s->stop)) break;
    for (uint32_t i = 0; i < f; i++) {
      uint64_t k = pos + i;
      frame[i] = k < s->src_len ? s->src[k] : 0;
    }
    PnApmPipe *apm = atomic_load(&s->apm);
    if (apm) pn_apm_pipe_acoustic(apm, frame, f, due);  // a simulated room's echo (tests)
    pn_sender_feed(s, frame, f);
    pos += f;
  }
  return NULL;
}

// werift edge, on the JavaScript thread: onFrame(payload: Buffer, clockSamples, marker).
static void frame_to_js(napi_env env, napi_value cb, void *context, void *data) {
  Frame *f = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[3], undef, ignored;
    void *copy;
    if (napi_create_buffer_copy(env, f->len, f->data, &copy, &argv[0]) == napi_ok) {
      napi_create_uint32(env, f->clock, &argv[1]);
      napi_get_boolean(env, f->marker, &argv[2]);
      napi_get_undefined(env, &undef);
      if (napi_call_function(env, undef, cb, 3, argv, &ignored) == napi_pending_exception) {
        // The JavaScript side catches its own errors; never let one out of a native callback.
        napi_value ex;
        napi_get_and_clear_last_exception(env, &ex);
      }
    }
  }
  free(f);
}

static void sender_tsfn_finalize(napi_env env, void *data, void *hint) { pn_sender_unref(data); }

static PnSender *unwrap_sender(napi_env env, napi_value self, bool must_be_open) {
  PnSender *s = NULL;
  if (napi_unwrap(env, self, (void **)&s) != napi_ok || s == NULL || s->magic != SENDER_MAGIC) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "not a NativeRtpSender");
    return NULL;
  }
  if (must_be_open && atomic_load(&s->closed)) {
    pn_throw(env, "SENDER_ERR_CLOSED", "the sender is closed");
    return NULL;
  }
  return s;
}

PnSender *pn_sender_from_js(napi_env env, napi_value v) {
  return unwrap_sender(env, v, true);
}

static void stop_thread(PnSender *s) {
  if (!s->thread_started) return;
  atomic_store(&s->stop, true);
  pthread_join(s->thread, NULL);
  s->thread_started = false;
}

// werift edge: no frame goes to JavaScript any more (waits out a feed in progress).
static void release_tsfn(PnSender *s) {
  pthread_mutex_lock(&s->feed_mu);
  bool live = s->tsfn_live;
  s->tsfn_live = false;
  pthread_mutex_unlock(&s->feed_mu);
  if (live) napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
}

static void sender_finalize(napi_env env, void *data, void *hint) {
  PnSender *s = data;
  atomic_store(&s->closed, true);
  stop_thread(s);
  release_tsfn(s);
  pn_sender_unref(s);
}

static bool opt_int(napi_env env, napi_value o, const char *key, int64_t lo, int64_t hi,
                    int64_t *out) {
  return pn_opt_int(env, o, key, lo, hi, "SENDER_ERR_BAD_ARG", out);
}

static bool opt_bytes(napi_env env, napi_value o, const char *key, uint8_t **data, size_t *len) {
  return pn_opt_bytes(env, o, key, "SENDER_ERR_BAD_ARG", data, len);
}

// new NativeRtpSender({fd, family, address: Uint8Array(4|16), port, ssrc, payloadType,
//   sequenceNumber, rolloverCounter, timestampOffset, key, salt, frameSamples, bitrate,
//   complexity, channel?}, onFrame?): fd -1 with onFrame(payload, clockSamples, marker) is the
//   werift edge (the socket, address and SRTP options are then not used). `channel`
//   (0x4000..0x7fff): the relayed edge, address:port is the TURN server and every packet goes
//   to it as ChannelData on that channel.
static napi_value sender_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  size_t argc = 2;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok || argc < 1) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "expected (options, onFrame?)");
    return NULL;
  }
  bool to_js = false;
  if (argc >= 2) {
    napi_valuetype ft;
    napi_typeof(env, argv[1], &ft);
    if (ft == napi_function) to_js = true;
    else if (ft != napi_undefined) {
      pn_throw(env, "SENDER_ERR_BAD_ARG", "onFrame must be a function");
      return NULL;
    }
  }
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_object) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "options must be an object");
    return NULL;
  }
  napi_value o = argv[0];
  int64_t fd, port, ssrc, pt, seq, roc, tso, frame, bitrate, complexity, channel;
  uint8_t *addr, *key, *salt;
  size_t addr_len, key_len, salt_len;
  if (!opt_int(env, o, "fd", -1, INT32_MAX, &fd) || !opt_int(env, o, "port", 1, 65535, &port) ||
      !opt_int(env, o, "ssrc", 0, UINT32_MAX, &ssrc) ||
      !opt_int(env, o, "payloadType", 0, 127, &pt) ||
      !opt_int(env, o, "sequenceNumber", 0, 65535, &seq) ||
      !opt_int(env, o, "rolloverCounter", 0, UINT32_MAX, &roc) ||
      !opt_int(env, o, "timestampOffset", 0, UINT32_MAX, &tso) ||
      !opt_int(env, o, "frameSamples", 1, MAX_FRAME, &frame) ||
      !opt_int(env, o, "bitrate", 500, 512000, &bitrate) ||
      !opt_int(env, o, "complexity", 0, 10, &complexity) ||
      !pn_opt_int_or(env, o, "channel", PN_CHANNEL_MIN, PN_CHANNEL_MAX, 0, "SENDER_ERR_BAD_ARG",
                     &channel) ||
      !opt_bytes(env, o, "address", &addr, &addr_len) || !opt_bytes(env, o, "key", &key, &key_len) ||
      !opt_bytes(env, o, "salt", &salt, &salt_len))
    return NULL;
  if (addr_len != 4 && addr_len != 16) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "address must be 4 (IPv4) or 16 (IPv6) bytes");
    return NULL;
  }
  if (key_len != 16 && key_len != 32) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "key must be 16 or 32 bytes, got %zu", key_len);
    return NULL;
  }
  if (salt_len != PN_GCM_SALT_LEN) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "salt must be %d bytes, got %zu", PN_GCM_SALT_LEN,
             salt_len);
    return NULL;
  }
  if ((fd < 0) != to_js) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "give either a socket (fd) or onFrame, not both");
    return NULL;
  }
  int type = 0;
  socklen_t tl = sizeof type;
  if (fd >= 0 && (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM)) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "fd %lld is not a datagram socket", (long long)fd);
    return NULL;
  }
  PnSender *s = calloc(1, sizeof *s);
  if (s == NULL) {
    pn_throw(env, "SENDER_ERR_INTERNAL", "out of memory");
    return NULL;
  }
  s->magic = SENDER_MAGIC;
  atomic_init(&s->refs, 1);
  s->fd = -1;
  pthread_mutex_init(&s->feed_mu, NULL);
  atomic_init(&s->start_ns, -1);
  if (addr_len == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&s->to;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, addr, 4);
    s->to_len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->to;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    memcpy(&a->sin6_addr, addr, 16);
    s->to_len = sizeof *a;
  }
  s->channel = (uint16_t)channel;
  s->ssrc = (uint32_t)ssrc;
  s->payload_type = (uint8_t)pt;
  s->seq = (uint16_t)seq;
  s->roc = (uint32_t)roc;
  s->ts_offset = (uint32_t)tso;
  s->marker = true;
  memcpy(s->salt, salt, PN_GCM_SALT_LEN);
  atomic_init(&s->frame_samples, (uint32_t)frame);
  atomic_init(&s->gain_q16, 65536);
  atomic_init(&s->peak, 0);
  int err = 0;
  s->enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP, &err);
  s->gcm = pn_gcm_new_encrypt(key, key_len);
  s->fd = fd < 0 ? -1 : fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (s->enc == NULL || s->gcm == NULL || (fd >= 0 && s->fd < 0)) {
    const char *what = s->enc == NULL ? "opus_encoder_create failed"
                       : s->gcm == NULL ? "cannot set up AES-GCM"
                                        : "cannot duplicate the socket";
    sender_free(s);
    pn_throw(env, "SENDER_ERR_INTERNAL", "%s", what);
    return NULL;
  }
  opus_encoder_ctl(s->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  opus_encoder_ctl(s->enc, OPUS_SET_COMPLEXITY((opus_int32)complexity));
  opus_encoder_ctl(s->enc, OPUS_SET_BITRATE((opus_int32)bitrate));
  s->have_bitrate = (int32_t)bitrate;
  atomic_init(&s->want_bitrate, (int32_t)bitrate);
  opus_encoder_ctl(s->enc, OPUS_GET_INBAND_FEC(&s->have_fec));
  opus_encoder_ctl(s->enc, OPUS_GET_PACKET_LOSS_PERC(&s->have_loss));
  opus_encoder_ctl(s->enc, OPUS_GET_DTX(&s->have_dtx));
  atomic_init(&s->want_fec, s->have_fec);
  atomic_init(&s->want_loss, s->have_loss);
  atomic_init(&s->want_dtx, s->have_dtx);
  if (to_js) {
    napi_value name;
    napi_create_string_utf8(env, "parloir-sender", NAPI_AUTO_LENGTH, &name);
    pn_sender_ref(s);  // the thread-safe function's
    if (napi_create_threadsafe_function(env, argv[1], NULL, name, MAX_FRAMES_QUEUED, 1, s,
                                        sender_tsfn_finalize, s, frame_to_js,
                                        &s->tsfn) != napi_ok) {
      s->tsfn = NULL;
      atomic_store(&s->refs, 1);
      sender_free(s);
      pn_throw(env, "SENDER_ERR_INTERNAL", "cannot create the thread-safe function");
      return NULL;
    }
    // Frames for werift must not keep the process alive on their own.
    napi_unref_threadsafe_function(env, s->tsfn);
    s->tsfn_live = true;
  }
  if (napi_wrap(env, self, s, sender_finalize, NULL, NULL) != napi_ok) {
    bool had_tsfn = s->tsfn_live;
    release_tsfn(s);
    if (had_tsfn) pn_sender_unref(s);  // the thread-safe function's finalizer frees it
    else sender_free(s);
    pn_throw(env, "SENDER_ERR_INTERNAL", "napi_wrap failed");
    return NULL;
  }
  return self;
}

// startPaced(pcm: Int16Array | null): starts the sender's own thread, which feeds `pcm` (48 kHz
// mono, copied) and then silence, one frame when its last sample is due.
static napi_value sender_start_paced(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, true);
  if (s == NULL) return NULL;
  if (s->thread_started) {
    pn_throw(env, "SENDER_ERR_STATE", "the sender is already running");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_null && t != napi_undefined) {
    int16_t *pcm;
    size_t n;
    if (!pn_typed(env, argv[0], napi_int16_array, "SENDER_ERR_BAD_ARG", "pcm", (void **)&pcm, &n))
      return NULL;
    s->src = malloc(n * sizeof *pcm + 1);
    if (s->src == NULL) {
      pn_throw(env, "SENDER_ERR_INTERNAL", "out of memory");
      return NULL;
    }
    memcpy(s->src, pcm, n * sizeof *pcm);
    s->src_len = n;
  }
  if (pthread_create(&s->thread, NULL, paced_thread, s) != 0) {
    pn_throw(env, "SENDER_ERR_INTERNAL", "cannot start the sending thread");
    return NULL;
  }
  s->thread_started = true;
  return NULL;
}

// set(name: 'bitrate'|'fec'|'loss'|'dtx'|'frameSamples'|'gain'|'muted', value: number)
static napi_value sender_set(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, true);
  if (s == NULL) return NULL;
  char name[16];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "setting name must be a string");
    return NULL;
  }
  int64_t v;
  if (strcmp(name, "bitrate") == 0) {
    if (!pn_int(env, argv[1], 500, 512000, "SENDER_ERR_BAD_ARG", "bitrate", &v)) return NULL;
    atomic_store(&s->want_bitrate, (int32_t)v);
  } else if (strcmp(name, "fec") == 0) {
    if (!pn_int(env, argv[1], 0, 2, "SENDER_ERR_BAD_ARG", "fec", &v)) return NULL;
    atomic_store(&s->want_fec, (int32_t)v);
  } else if (strcmp(name, "loss") == 0) {
    if (!pn_int(env, argv[1], 0, 100, "SENDER_ERR_BAD_ARG", "loss", &v)) return NULL;
    atomic_store(&s->want_loss, (int32_t)v);
  } else if (strcmp(name, "dtx") == 0) {
    if (!pn_int(env, argv[1], 0, 1, "SENDER_ERR_BAD_ARG", "dtx", &v)) return NULL;
    atomic_store(&s->want_dtx, (int32_t)v);
  } else if (strcmp(name, "frameSamples") == 0) {
    if (!pn_int(env, argv[1], 120, MAX_FRAME, "SENDER_ERR_BAD_ARG", "frameSamples", &v))
      return NULL;
    int64_t q = v / 120;  // RFC 6716 §2.1.4: 2.5, 5, 10, 20, 40 or 60 ms
    if (v % 120 != 0 || !(q == 1 || q == 2 || q == 4 || q == 8 || q == 16 || q == 24)) {
      pn_throw(env, "SENDER_ERR_BAD_ARG", "frameSamples %lld is not an Opus frame size",
               (long long)v);
      return NULL;
    }
    atomic_store(&s->frame_samples, (uint32_t)v);
  } else if (strcmp(name, "gainQ16") == 0) {
    if (!pn_int(env, argv[1], 0, 65536LL * 64, "SENDER_ERR_BAD_ARG", "gainQ16", &v)) return NULL;
    atomic_store(&s->gain_q16, (int32_t)v);
  } else if (strcmp(name, "muted") == 0) {
    if (!pn_int(env, argv[1], 0, 1, "SENDER_ERR_BAD_ARG", "muted", &v)) return NULL;
    atomic_store(&s->muted, v != 0);
  } else {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "unknown setting '%s'", name);
    return NULL;
  }
  return NULL;
}

// stats(): {packets, payloadBytes, sendErrors, lastErrno, lastTimestamp, lastSendMonotonicMs,
//   startMonotonicMs, nowMonotonicMs, clockSamples, lbrrPackets, sequenceNumber, rolloverCounter}
static napi_value sender_stats(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, false);
  if (s == NULL) return NULL;
  napi_value r;
  napi_create_object(env, &r);
  pn_set_num(env, r, "packets", (double)atomic_load(&s->packets));
  pn_set_num(env, r, "payloadBytes", (double)atomic_load(&s->payload_bytes));
  pn_set_num(env, r, "sendErrors", (double)atomic_load(&s->send_errors));
  pn_set_num(env, r, "lastErrno", (double)atomic_load(&s->last_errno));
  pn_set_num(env, r, "lastTimestamp", (double)atomic_load(&s->last_timestamp));
  int64_t last = atomic_load(&s->last_send_ns);
  pn_set_num(env, r, "lastSendMonotonicMs", last == 0 ? -1 : (double)last / 1e6);
  int64_t start = atomic_load(&s->start_ns);
  pn_set_num(env, r, "startMonotonicMs", start < 0 ? -1 : (double)start / 1e6);
  pn_set_num(env, r, "nowMonotonicMs", (double)now_ns() / 1e6);
  pn_set_num(env, r, "clockSamples", (double)atomic_load(&s->clock_pub));
  pn_set_num(env, r, "lbrrPackets", (double)atomic_load(&s->lbrr_packets));
  return r;
}

// takePeak(): the largest |sample| (0..32768, after gain) captured since the last call; resets.
static napi_value sender_take_peak(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, false);
  if (s == NULL) return NULL;
  napi_value r;
  napi_create_int32(env, atomic_exchange(&s->peak, 0), &r);
  return r;
}

// setProbing(on: boolean)
static napi_value sender_set_probing(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, false);
  bool on;
  if (s == NULL || !pn_bool(env, argv[0], "SENDER_ERR_BAD_ARG", "on", &on)) return NULL;
  atomic_store(&s->probing, on);
  return NULL;
}

// takeProbes(): Float64Array of [clock, capturedMonotonicMs, sentMonotonicMs] triplets since the
// last call (the oldest are lost if more than 1024 frames went by).
static napi_value sender_take_probes(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, false);
  if (s == NULL) return NULL;
  uint64_t w = atomic_load_explicit(&s->probe_w, memory_order_acquire);
  if (w - s->probe_r > PROBE_RING) s->probe_r = w - PROBE_RING;
  size_t n = (size_t)(w - s->probe_r);
  napi_value ab, arr;
  double *dst;
  if (napi_create_arraybuffer(env, n * 3 * sizeof(double), (void **)&dst, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, n * 3, ab, 0, &arr) != napi_ok) {
    pn_throw(env, "SENDER_ERR_INTERNAL", "cannot allocate the probes");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const Probe *p = &s->probes[(s->probe_r + i) & (PROBE_RING - 1)];
    dst[3 * i] = p->clock;
    dst[3 * i + 1] = p->captured_ms;
    dst[3 * i + 2] = p->sent_ms;
  }
  s->probe_r = w;
  return arr;
}

// setDestination({fd, address, port, channel?}): the pair ICE selected after a restart (RFC
// 8445 §2.4): from the next frame, sendto() on a dup() of `fd` to address:port (as ChannelData on
// `channel` when given, the relayed edge). The stream goes on — same SSRC, sequence numbers, ROC,
// timestamps, encoder and SRTP keys (the DTLS association is kept) — only the socket changes.
static napi_value sender_set_destination(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, true);
  if (s == NULL) return NULL;
  int64_t fd, port, channel;
  uint8_t *addr;
  size_t addr_len;
  if (!opt_int(env, argv[0], "fd", 0, INT32_MAX, &fd) ||
      !opt_int(env, argv[0], "port", 1, 65535, &port) ||
      !pn_opt_int_or(env, argv[0], "channel", PN_CHANNEL_MIN, PN_CHANNEL_MAX, 0,
                     "SENDER_ERR_BAD_ARG", &channel) ||
      !opt_bytes(env, argv[0], "address", &addr, &addr_len))
    return NULL;
  if (addr_len != 4 && addr_len != 16) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "address must be 4 (IPv4) or 16 (IPv6) bytes");
    return NULL;
  }
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM) {
    pn_throw(env, "SENDER_ERR_BAD_ARG", "fd %lld is not a datagram socket", (long long)fd);
    return NULL;
  }
  struct sockaddr_storage to;
  socklen_t to_len;
  memset(&to, 0, sizeof to);
  if (addr_len == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)&to;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, addr, 4);
    to_len = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    memcpy(&a->sin6_addr, addr, 16);
    to_len = sizeof *a;
  }
  int nfd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
  if (nfd < 0) {
    pn_throw(env, "SENDER_ERR_INTERNAL", "cannot duplicate the socket");
    return NULL;
  }
  // Under feed_mu: the sending thread reads fd, to and channel only while holding it.
  pthread_mutex_lock(&s->feed_mu);
  int old = s->fd;
  bool werift_edge = old < 0;
  if (!werift_edge) {
    s->fd = nfd;
    s->to = to;
    s->to_len = to_len;
    s->channel = (uint16_t)channel;
  }
  pthread_mutex_unlock(&s->feed_mu);
  if (werift_edge) {
    close(nfd);
    pn_throw(env, "SENDER_ERR_STATE", "no socket: the werift edge sends through werift");
    return NULL;
  }
  close(old);
  return NULL;
}

// close(): stops the paced thread; capture streams still attached stop feeding it. Idempotent.
static napi_value sender_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  PnSender *s = unwrap_sender(env, self, false);
  if (s == NULL) return NULL;
  atomic_store(&s->closed, true);
  stop_thread(s);
  // Wait out a feed in progress on another thread (ALSA), then give the socket back.
  pthread_mutex_lock(&s->feed_mu);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  pthread_mutex_unlock(&s->feed_mu);
  release_tsfn(s);
  return NULL;
}

napi_value pn_sender_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"startPaced", NULL, sender_start_paced, NULL, NULL, NULL, napi_default, NULL},
      {"set", NULL, sender_set, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, sender_stats, NULL, NULL, NULL, napi_default, NULL},
      {"takePeak", NULL, sender_take_peak, NULL, NULL, NULL, napi_default, NULL},
      {"setProbing", NULL, sender_set_probing, NULL, NULL, NULL, napi_default, NULL},
      {"takeProbes", NULL, sender_take_probes, NULL, NULL, NULL, napi_default, NULL},
      {"setDestination", NULL, sender_set_destination, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, sender_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativeRtpSender", NAPI_AUTO_LENGTH, sender_new, NULL,
                    sizeof methods / sizeof methods[0], methods, &cls);
  napi_set_named_property(env, exports, "NativeRtpSender", cls);
  return exports;
}
