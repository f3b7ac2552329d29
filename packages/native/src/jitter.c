// Adaptive jitter buffer for one Opus stream: a port of @parloir/media's JitterBuffer. Read
// packages/media/src/jitter-buffer.ts for the design; this file follows it statement by
// statement so that both make the same decisions and produce the same PCM
// (test/jitter-cross.test.ts). Arithmetic is done in doubles, as JavaScript does, with
// JavaScript's Math.round; libopus is called exactly as src/opus.c's decoder methods call it.
#include "jitter.h"

#include <math.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>

#define CLOCK_RATE 48000.0
#define SAMPLE_RATE 48000.0
#define FATE_RING 2048
#define STARTUP_PACKETS 50
#define FATE_PLAYED 1
#define FATE_SKIPPED 2
#define MAX_SAMPLES 5760  // 120 ms at 48 kHz: the longest Opus packet
#define QUANTUM 120       // 2.5 ms at 48 kHz

// DelayEstimator constants (its defaults: the buffer does not change them).
#define EST_RISK_HEADROOM 0.08
#define EST_MIN_WINDOW_MS 2000.0
#define EST_MAX_SAMPLES 2000
#define EST_REBASE_MS 10.0
// The TS min-deque is bounded only by the arrivals of one window; here it is a ring of this
// many entries, the oldest dropped when full (only a flood of > 4096 packets in 2 s with rising
// transit reaches it).
#define EST_DEQUE 4096

typedef struct {
  double at, transit;
} MinEntry;

typedef struct {
  double at, rel, risk;
} Hist;

typedef struct {
  double quantile, in_order_quantile, history_ms;
  MinEntry dq[EST_DEQUE];
  int dq_head, dq_len;
  Hist hist[EST_MAX_SAMPLES + 1];
  int h_head, h_len;
  double sorted[EST_MAX_SAMPLES + 1];
  double sorted_risk[EST_MAX_SAMPLES + 1];
  int s_len;  // both sorted arrays have this length
} Estimator;

typedef struct {
  bool used;
  double seq, ts, dur;
  size_t len;
  uint8_t payload[PN_JB_MAX_PAYLOAD];
} Slot;

typedef struct {
  bool has;
  double last;
  double range, half;
} Unwrap;

struct PnJb {
  OpusDecoder *dec;
  int tick_ms;
  int tick_samples;
  int capacity;
  double margin_ms;
  bool fec;
  double initial_delay_ms;
  double accelerate_at_ticks;
  double target_decay_ms_per_tick;
  double held_target_ms;  // TS #heldTargetMs
  double min_delay_ms, max_delay_ms;
  Estimator est;
  Slot *ring;
  int count;
  double fate_seq[FATE_RING];
  uint8_t fate[FATE_RING];
  Unwrap seq_unwrap, ts_unwrap;
  bool has_ssrc;
  uint32_t ssrc;
  double ts_origin;
  bool has_next_seq;
  double next_seq;
  bool has_highest_seq;
  double highest_seq;
  double next_ts;
  double last_dur;
  bool started;
  bool pending_reset;
  int16_t *queue;
  int q_len, q_cap;
  int16_t scratch[MAX_SAMPLES];
  PnJbStats st;  // counters only; the state fields are filled by pn_jb_stats
  double last_level_ms;
};

// ---------------------------------------------------------------------------------------------
// JavaScript arithmetic

// Math.round: the integer nearest x, halves up (floor(x + 0.5) computed exactly).
static double js_round(double x) {
  double f = floor(x);
  return x - f >= 0.5 ? f + 1 : f;
}

static double js_min(double a, double b) { return a < b ? a : b; }
static double js_max(double a, double b) { return a > b ? a : b; }

// ---------------------------------------------------------------------------------------------
// RTP unwrapping (rtp.ts Unwrapper)

static void unwrap_init(Unwrap *u, int bits) {
  u->has = false;
  u->last = 0;
  u->range = ldexp(1.0, bits);
  u->half = u->range / 2;
}

static double unwrap(Unwrap *u, double value) {
  double v = fmod(fmod(value, u->range) + u->range, u->range);
  if (!u->has) {
    u->has = true;
    u->last = v + u->range;
    return u->last;
  }
  double last_mod = fmod(u->last, u->range);
  double delta = v - last_mod;
  if (delta > u->half)
    delta -= u->range;
  else if (delta < -u->half)
    delta += u->range;
  double extended = u->last + delta;
  if (extended > u->last) u->last = extended;
  return extended;
}

// ---------------------------------------------------------------------------------------------
// Opus packet duration (opus-toc.ts parseOpusToc, payloads.ts payloadDurationSamples)

// Duration in clock units, or -1 if the TS parser rejects the packet.
static double opus_duration(const uint8_t *p, size_t len) {
  static const double silk_ms[4] = {10, 20, 40, 60};
  static const double hybrid_ms[2] = {10, 20};
  static const double celt_ms[4] = {2.5, 5, 10, 20};
  if (len == 0) return -1;
  int toc = p[0];
  int config = toc >> 3;
  int code = toc & 3;
  double frame_ms;
  if (config < 12)
    frame_ms = silk_ms[config & 3];
  else if (config < 16)
    frame_ms = hybrid_ms[config & 1];
  else
    frame_ms = celt_ms[config & 3];
  int frames;
  if (code == 0) {
    frames = 1;
  } else if (code == 1) {
    if ((len - 1) % 2 != 0) return -1;
    frames = 2;
  } else if (code == 2) {
    if (len < 2) return -1;
    int b1 = p[1];
    long flen = b1 < 252 ? b1 : b1 + 4L * (len > 2 ? (long)p[2] : -1000L);
    long header = b1 < 252 ? 2 : 3;
    if (flen < 0 || (size_t)(header + flen) > len) return -1;
    frames = 2;
  } else {
    if (len < 2) return -1;
    frames = p[1] & 0x3f;
    if (frames == 0) return -1;
  }
  double duration_ms = frame_ms * frames;
  if (duration_ms > 120) return -1;
  return js_round((duration_ms * CLOCK_RATE) / 1000);
}

// ---------------------------------------------------------------------------------------------
// DelayEstimator (delay-estimator.ts)

static int lower_bound(const double *a, int n, double v) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
    if (a[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void insert_sorted(double *a, int n, double v) {
  int i = lower_bound(a, n, v);
  memmove(a + i + 1, a + i, (size_t)(n - i) * sizeof *a);
  a[i] = v;
}

// Returns the new length.
static int remove_sorted(double *a, int n, double v) {
  int i = lower_bound(a, n, v);
  if (i < n && a[i] == v) {
    memmove(a + i, a + i + 1, (size_t)(n - i - 1) * sizeof *a);
    return n - 1;
  }
  return n;
}

// The TS keeps two arrays that always have the same length (one push, one shift each); a
// remove that finds nothing would desynchronise them, so each array keeps its own length here.
typedef struct {
  int n_rel, n_risk;
} Lens;

static void est_init(Estimator *e, double quantile, double in_order, double history_ms) {
  e->quantile = js_min(1, js_max(0, quantile));
  e->in_order_quantile = js_min(1, js_max(0, in_order));
  e->history_ms = history_ms;
  e->dq_head = e->dq_len = 0;
  e->h_head = e->h_len = 0;
  e->s_len = 0;
}

static void est_reset(Estimator *e) {
  e->dq_head = e->dq_len = 0;
  e->h_head = e->h_len = 0;
  e->s_len = 0;
}

#define DQ(e, i) ((e)->dq[((e)->dq_head + (i)) % EST_DEQUE])
#define HIST(e, i) ((e)->hist[((e)->h_head + (i)) % (EST_MAX_SAMPLES + 1)])

static bool est_min_transit(const Estimator *e, double *out) {
  if (e->dq_len == 0) return false;
  *out = e->dq[e->dq_head].transit;
  return true;
}

static void est_rebase(Estimator *e, double since_ms, double step_ms) {
  for (int k = 0; k < e->h_len; k++) {
    Hist *h = &HIST(e, k);
    if (h->at < since_ms) continue;
    int n = remove_sorted(e->sorted, e->s_len, h->rel);
    int nr = remove_sorted(e->sorted_risk, e->s_len, h->risk);
    h->rel = js_max(0, h->rel - step_ms);
    h->risk = h->risk > 0 ? js_max(0, h->risk - step_ms) : 0;
    // A value is always found (it was inserted and the arrays hold exactly the history).
    if (n < e->s_len) insert_sorted(e->sorted, n, h->rel);
    if (nr < e->s_len) insert_sorted(e->sorted_risk, nr, h->risk);
  }
}

static void est_insert(Estimator *e, double arrival_ms, double send_ms, bool reordered) {
  double transit = arrival_ms - send_ms;
  bool had_old = e->dq_len > 0;
  double old_min = had_old ? e->dq[e->dq_head].transit : 0;
  while (e->dq_len > 0 && DQ(e, e->dq_len - 1).transit >= transit) e->dq_len--;
  if (e->dq_len == EST_DEQUE) {  // bounded memory (see EST_DEQUE)
    e->dq_head = (e->dq_head + 1) % EST_DEQUE;
    e->dq_len--;
  }
  DQ(e, e->dq_len).at = arrival_ms;
  DQ(e, e->dq_len).transit = transit;
  e->dq_len++;
  while (e->dq_len > 1 && e->dq[e->dq_head].at < arrival_ms - EST_MIN_WINDOW_MS) {
    e->dq_head = (e->dq_head + 1) % EST_DEQUE;
    e->dq_len--;
  }
  double new_min = e->dq[e->dq_head].transit;
  if (had_old && new_min - old_min > EST_REBASE_MS) {
    est_rebase(e, arrival_ms - EST_MIN_WINDOW_MS, new_min - old_min);
  }
  double rel = transit - new_min;
  double risk = reordered ? rel : 0;
  Hist *h = &HIST(e, e->h_len);
  h->at = arrival_ms;
  h->rel = rel;
  h->risk = risk;
  e->h_len++;
  insert_sorted(e->sorted, e->s_len, rel);
  insert_sorted(e->sorted_risk, e->s_len, risk);
  e->s_len++;
  while (e->h_len > EST_MAX_SAMPLES ||
         (e->h_len > 1 && e->hist[e->h_head].at < arrival_ms - e->history_ms)) {
    Hist old = e->hist[e->h_head];
    e->h_head = (e->h_head + 1) % (EST_MAX_SAMPLES + 1);
    e->h_len--;
    int n = remove_sorted(e->sorted, e->s_len, old.rel);
    int nr = remove_sorted(e->sorted_risk, e->s_len, old.risk);
    // Both are found; keep the arrays the length of the history whatever happens.
    (void)n;
    (void)nr;
    e->s_len = e->h_len;
  }
}

static double pick(const double *s, int n, double q) {
  if (n == 0) return 0;
  double idx = js_min(n - 1, js_max(0, ceil(q * n) - 1));
  return s[(int)idx];
}

static double est_target_ms(const Estimator *e) {
  double in_order = pick(e->sorted, e->s_len, e->in_order_quantile);
  double risk = pick(e->sorted_risk, e->s_len, e->quantile);
  return js_max(in_order, risk * (1 + EST_RISK_HEADROOM));
}

// ---------------------------------------------------------------------------------------------
// The decoder, called exactly as src/opus.c's NativeOpusDecoder methods call libopus. Each
// returns the number of samples written to jb->scratch, or -1 where the method would throw.

static int dec_decode(PnJb *jb, const uint8_t *data, size_t len) {
  if (len == 0 || len > 1275 * 48) return -1;
  int n = opus_decoder_get_nb_samples(jb->dec, data, (opus_int32)len);
  if (n < 0) return -1;
  if (n == 0 || n > 48000 / 1000 * 120) return -1;
  memset(jb->scratch, 0, sizeof jb->scratch);
  n = opus_decode(jb->dec, data, (opus_int32)len, jb->scratch, n, 0);
  return n < 0 ? -1 : n;
}

static bool dec_missing_ok(double samples) {
  return samples >= 1 && samples <= QUANTUM * 48 && samples == floor(samples) &&
         fmod(samples, QUANTUM) == 0;
}

static int dec_fec(PnJb *jb, const uint8_t *data, size_t len, double samples) {
  if (len == 0 || len > 1275 * 48) return -1;
  if (!dec_missing_ok(samples)) return -1;
  if (opus_packet_get_nb_frames(data, (opus_int32)len) < 0) return -1;
  memset(jb->scratch, 0, sizeof jb->scratch);
  int n = opus_decode(jb->dec, data, (opus_int32)len, jb->scratch, (int)samples, 1);
  return n < 0 ? -1 : n;
}

static int dec_conceal(PnJb *jb, double samples) {
  if (!dec_missing_ok(samples)) return -1;
  memset(jb->scratch, 0, sizeof jb->scratch);
  int n = opus_decode(jb->dec, NULL, 0, jb->scratch, (int)samples, 0);
  return n < 0 ? -1 : n;
}

// ---------------------------------------------------------------------------------------------
// The buffer (jitter-buffer.ts)

void pn_jb_default_options(PnJbOptions *o) {
  o->tick_ms = 20;
  o->min_delay_ms = 0;
  o->max_delay_ms = 2000;
  o->capacity = 1024;
  o->quantile = 0.99;
  o->in_order_quantile = 0.95;
  o->margin_ms = 2;
  o->history_ms = 10000;
  o->fec = true;
  o->initial_delay_ms = 40;
  o->accelerate_at_ticks = 1;
  o->target_decay_ms_per_s = 0;
}

static bool bounds_ok(double min, double max) { return min >= 0 && max >= min && isfinite(max); }

PnJb *pn_jb_new(const PnJbOptions *o, const char **why) {
  const char *dummy;
  if (!why) why = &dummy;
  if (!o) {
    *why = "no options";
    return NULL;
  }
  if (!(o->tick_ms > 0 && o->tick_ms <= 60)) {
    *why = "tickMs must be in (0, 60] and clockRate > 0";
    return NULL;
  }
  if (!isfinite(o->min_delay_ms) || !isfinite(o->quantile) || !isfinite(o->in_order_quantile) ||
      !isfinite(o->margin_ms) || !isfinite(o->history_ms) || !isfinite(o->initial_delay_ms) ||
      !isfinite(o->accelerate_at_ticks) || !isfinite(o->target_decay_ms_per_s)) {
    *why = "every option must be a finite number";
    return NULL;
  }
  if (!bounds_ok(o->min_delay_ms, o->max_delay_ms)) {
    *why = "bad delay bounds: need 0 <= minDelayMs <= maxDelayMs, finite";
    return NULL;
  }
  if (!(o->target_decay_ms_per_s >= 0)) {
    *why = "targetDecayMsPerS must be finite and >= 0";
    return NULL;
  }
  if (o->capacity > PN_JB_MAX_CAPACITY) {
    *why = "capacity must be at most 65536 packets";
    return NULL;
  }
  PnJb *jb = calloc(1, sizeof *jb);
  if (!jb) {
    *why = "out of memory";
    return NULL;
  }
  jb->tick_ms = o->tick_ms;
  jb->tick_samples = (int)js_round((o->tick_ms * SAMPLE_RATE) / 1000);
  jb->capacity = o->capacity > 16 ? o->capacity : 16;
  jb->margin_ms = o->margin_ms;
  jb->fec = o->fec;
  jb->initial_delay_ms = o->initial_delay_ms;
  jb->accelerate_at_ticks = js_max(0.25, o->accelerate_at_ticks);
  jb->target_decay_ms_per_tick = (o->target_decay_ms_per_s * o->tick_ms) / 1000;
  jb->min_delay_ms = o->min_delay_ms;
  jb->max_delay_ms = o->max_delay_ms;
  est_init(&jb->est, o->quantile, o->in_order_quantile, o->history_ms);
  // At most: just under two ticks, plus one packet of 120 ms.
  jb->q_cap = 2 * jb->tick_samples + MAX_SAMPLES + 16;
  jb->queue = calloc((size_t)jb->q_cap, sizeof *jb->queue);
  jb->ring = calloc((size_t)jb->capacity, sizeof *jb->ring);
  int err = OPUS_OK;
  jb->dec = opus_decoder_create(48000, 1, &err);
  if (!jb->queue || !jb->ring || !jb->dec || err != OPUS_OK) {
    *why = jb->queue && jb->ring ? "opus_decoder_create failed" : "out of memory";
    pn_jb_free(jb);
    return NULL;
  }
  for (int i = 0; i < FATE_RING; i++) jb->fate_seq[i] = -1;
  unwrap_init(&jb->seq_unwrap, 16);
  unwrap_init(&jb->ts_unwrap, 32);
  return jb;
}

void pn_jb_free(PnJb *jb) {
  if (!jb) return;
  if (jb->dec) opus_decoder_destroy(jb->dec);
  free(jb->queue);
  free(jb->ring);
  free(jb);
}

int pn_jb_tick_samples(const PnJb *jb) { return jb->tick_samples; }

int pn_jb_set_bounds(PnJb *jb, double min_ms, double max_ms) {
  if (!bounds_ok(min_ms, max_ms)) return -1;
  jb->min_delay_ms = min_ms;
  jb->max_delay_ms = max_ms;
  return 0;
}

// TS #quantileTargetMs: the quantile (plus margin, or the start-up default) before hold and
// bounds.
static double quantile_target_ms(const PnJb *jb) {
  double q = jb->est.s_len > 0 ? est_target_ms(&jb->est) + jb->margin_ms : 0;
  if (jb->est.s_len < STARTUP_PACKETS) q = js_max(q, jb->initial_delay_ms);
  return q;
}

static double target_delay_ms(const PnJb *jb) {
  double q = js_max(quantile_target_ms(jb), jb->held_target_ms);
  return js_min(jb->max_delay_ms, js_max(jb->min_delay_ms, q));
}

void pn_jb_stats(const PnJb *jb, PnJbStats *out) {
  *out = jb->st;
  out->current_delay_ms = jb->last_level_ms;
  out->target_delay_ms = target_delay_ms(jb);
  out->buffered_packets = (uint64_t)jb->count;
  out->min_delay_ms = jb->min_delay_ms;
  out->max_delay_ms = jb->max_delay_ms;
}

static double ts_ms(const PnJb *jb, double ts) { return ((ts - jb->ts_origin) * 1000) / CLOCK_RATE; }

static double samples_of(double ts_units) { return js_round((ts_units * SAMPLE_RATE) / CLOCK_RATE); }

static double level(const PnJb *jb, double now_ms) {
  double min_transit;
  if (!est_min_transit(&jb->est, &min_transit)) return 0;
  double queued_ts = (jb->q_len * CLOCK_RATE) / SAMPLE_RATE;
  return now_ms - ts_ms(jb, jb->next_ts - queued_ts) - min_transit;
}

static int ring_index(const PnJb *jb, double seq) { return (int)fmod(seq, jb->capacity); }

static Slot *peek(PnJb *jb, double seq) {
  Slot *s = &jb->ring[ring_index(jb, seq)];
  return s->used && s->seq == seq ? s : NULL;
}

static void take(PnJb *jb, Slot *s) {
  s->used = false;
  jb->count--;
}

static void mark_fate(PnJb *jb, double seq, uint8_t fate) {
  int i = (int)fmod(seq, FATE_RING);
  jb->fate_seq[i] = seq;
  jb->fate[i] = fate;
}

// Appends n samples of jb->scratch-sized data (bounded by the queue's capacity).
static void append(PnJb *jb, const int16_t *pcm, int n) {
  if (n > jb->q_cap - jb->q_len) n = jb->q_cap - jb->q_len;  // unreachable: see q_cap
  if (n <= 0) return;
  memcpy(jb->queue + jb->q_len, pcm, (size_t)n * sizeof *pcm);
  jb->q_len += n;
}

// fit(): pads the decoder output (n samples in scratch, -1 = threw) with zeros or truncates it
// to `samples`, in place in scratch.
static void fit_scratch(PnJb *jb, int n, int samples) {
  if (n < samples) memset(jb->scratch + n, 0, (size_t)(samples - n) * sizeof jb->scratch[0]);
}

// #safeConceal: leaves exactly `samples` (≤ MAX_SAMPLES) in scratch.
static void safe_conceal(PnJb *jb, int samples) {
  double request = ceil((double)samples / QUANTUM) * QUANTUM;
  int n = dec_conceal(jb, request);
  if (n < 0) {
    memset(jb->scratch, 0, sizeof jb->scratch);
    return;
  }
  fit_scratch(jb, n, samples);
}

static void reset(PnJb *jb) {
  for (int i = 0; i < jb->capacity; i++) jb->ring[i].used = false;
  jb->count = 0;
  for (int i = 0; i < FATE_RING; i++) jb->fate_seq[i] = -1;
  unwrap_init(&jb->seq_unwrap, 16);
  unwrap_init(&jb->ts_unwrap, 32);
  est_reset(&jb->est);
  jb->has_ssrc = false;
  jb->has_next_seq = false;
  jb->has_highest_seq = false;
  jb->next_ts = 0;
  jb->started = false;
  jb->held_target_ms = 0;
  jb->q_len = 0;
  jb->pending_reset = true;
  opus_decoder_ctl(jb->dec, OPUS_RESET_STATE);
}

// #store: PN_JB_INSERTED for "undefined".
static int store(PnJb *jb, double seq, double ts, double dur, const uint8_t *payload, size_t len) {
  if (!jb->has_next_seq || (!jb->started && seq < jb->next_seq)) {
    if (jb->has_next_seq && jb->next_seq - seq >= jb->capacity) return PN_JB_LATE;
    jb->has_next_seq = true;
    jb->next_seq = seq;
    jb->next_ts = ts;
  }
  Slot *s = &jb->ring[ring_index(jb, seq)];
  if (s->used && s->seq == seq) {
    jb->st.duplicates++;
    return PN_JB_DUPLICATE;
  }
  if (s->used) jb->count--;
  s->used = true;
  s->seq = seq;
  s->ts = ts;
  s->dur = dur;
  s->len = len;
  memcpy(s->payload, payload, len);
  jb->count++;
  return PN_JB_INSERTED;
}

static int insert(PnJb *jb, uint16_t seq16, uint32_t ts32, uint32_t ssrc, const uint8_t *payload,
                  size_t len, double arrival_ms) {
  jb->st.packets_received++;
  int outcome = PN_JB_INSERTED;
  if (jb->has_ssrc && ssrc != jb->ssrc) {
    reset(jb);
    outcome = PN_JB_RESET;
  }
  if (!jb->has_ssrc) {
    jb->has_ssrc = true;
    jb->ssrc = ssrc;
    jb->ts_origin = unwrap(&jb->ts_unwrap, ts32);
  }
  double seq = unwrap(&jb->seq_unwrap, seq16);
  double ts = unwrap(&jb->ts_unwrap, ts32);
  double dur = payload ? opus_duration(payload, len) : -1;
  if (dur <= 0 || len > PN_JB_MAX_PAYLOAD || !isfinite(arrival_ms)) {
    jb->st.malformed_packets++;
    return PN_JB_MALFORMED;
  }
  dur = js_min(dur, js_round(0.12 * CLOCK_RATE));
  bool reordered = jb->has_highest_seq && seq < jb->highest_seq;
  if (!jb->has_highest_seq || seq > jb->highest_seq) {
    jb->has_highest_seq = true;
    jb->highest_seq = seq;
  }
  est_insert(&jb->est, arrival_ms, ts_ms(jb, ts), reordered);
  if (jb->has_next_seq) {
    double ahead = seq - jb->next_seq;
    if (ahead >= jb->capacity || ahead < -FATE_RING) {
      reset(jb);
      jb->st.packets_received--;
      insert(jb, seq16, ts32, ssrc, payload, len, arrival_ms);
      return PN_JB_RESET;
    }
    if (ahead < 0 && jb->started) {
      int i = (int)fmod(seq, FATE_RING);
      if (jb->fate_seq[i] == seq && jb->fate[i] == FATE_PLAYED) {
        jb->st.duplicates++;
        return PN_JB_DUPLICATE;
      }
      jb->st.late_packets++;
      if (jb->fate_seq[i] == seq) jb->fate[i] = FATE_PLAYED;
      return PN_JB_LATE;
    }
  }
  int r = store(jb, seq, ts, dur, payload, len);
  return r != PN_JB_INSERTED ? r : outcome;
}

int pn_jb_insert(PnJb *jb, uint16_t seq, uint32_t ts, uint32_t ssrc, bool marker,
                 const uint8_t *payload, size_t len, double arrival_ms) {
  (void)marker;  // the TS buffer does not use it either
  return insert(jb, seq, ts, ssrc, payload, len, arrival_ms);
}

#define WAIT (-1)

// #decodeStep: moves the timeline forward by one packet (or one DTX stretch) into the queue.
static int decode_step(PnJb *jb, double now_ms, double target, bool allow_loss) {
  double seq = jb->has_next_seq ? jb->next_seq : 0;
  Slot *slot = peek(jb, seq);
  if (slot) {
    double gap = slot->ts - jb->next_ts;
    if (gap > 0) {
      if (!allow_loss) return WAIT;
      double excess_ts = ((level(jb, now_ms) - target) * CLOCK_RATE) / 1000;
      double skip = js_max(0, js_min(gap, floor(excess_ts)));
      jb->next_ts += skip;
      double fill = js_min(gap - skip, js_round((jb->tick_ms * CLOCK_RATE) / 1000));
      if (fill > 0) {
        int n = (int)samples_of(fill);
        safe_conceal(jb, n);
        append(jb, jb->scratch, n);
        jb->next_ts += fill;
      }
      return skip > 0 ? PN_JB_ACCELERATE : PN_JB_NORMAL;
    }
    take(jb, slot);
    int decision = PN_JB_NORMAL;
    int samples = (int)samples_of(slot->dur);
    int n = dec_decode(jb, slot->payload, slot->len);
    if (n >= 0) {
      fit_scratch(jb, n, samples);
    } else {
      jb->st.malformed_packets++;
      safe_conceal(jb, samples);
      decision = PN_JB_PLC;
    }
    int from = 0;
    if (gap < 0) from = (int)js_min(samples, samples_of(-gap));
    append(jb, jb->scratch + from, samples - from);
    mark_fate(jb, seq, FATE_PLAYED);
    jb->st.packets_played++;
    jb->last_dur = slot->dur;
    jb->next_seq = seq + 1;
    jb->next_ts = slot->ts + slot->dur;
    return decision;
  }
  if (!allow_loss || jb->count == 0 || level(jb, now_ms) < target) return WAIT;
  // Declared lost: rebuild from the next packet's FEC if it is here, else conceal.
  Slot *next = peek(jb, seq + 1);
  double dur_ts = next ? next->ts - jb->next_ts : jb->last_dur;
  double max_ts = js_round(0.12 * CLOCK_RATE);
  if (!(dur_ts > 0 && dur_ts <= max_ts)) dur_ts = jb->last_dur > 0 ? jb->last_dur : max_ts / 6;
  jb->st.lost_packets++;
  mark_fate(jb, seq, FATE_SKIPPED);
  jb->next_seq = seq + 1;
  if (level(jb, now_ms) - target >= (dur_ts * 1000) / CLOCK_RATE) {
    jb->next_ts += dur_ts;
    jb->st.plc_packets++;
    return PN_JB_PLC;
  }
  int samples = (int)samples_of(dur_ts);
  bool have = false;
  int decision = PN_JB_PLC;
  if (next && jb->fec) {
    int n = dec_fec(jb, next->payload, next->len, samples);
    if (n >= 0) {
      fit_scratch(jb, n, samples);
      have = true;
      decision = PN_JB_FEC;
      jb->st.fec_recovered++;
    }
  }
  if (!have) {
    safe_conceal(jb, samples);
    jb->st.plc_packets++;
  }
  jb->st.concealed_ms += (samples * 1000.0) / SAMPLE_RATE;
  append(jb, jb->scratch, samples);
  jb->next_ts += dur_ts;
  return decision;
}

static int rank(int d) {
  switch (d) {
    case PN_JB_NORMAL: return 0;
    case PN_JB_ACCELERATE: return 1;
    case PN_JB_EXPAND: return 2;
    case PN_JB_FEC: return 3;
    case PN_JB_PLC: return 4;
    case PN_JB_RESET_D: return 5;
    default: return 6;
  }
}

// shortenPcm on the queue, in place: removes n samples at the best position in [0, search],
// cross-fading over `overlap`. Returns the samples removed (0 or n).
static int shorten_queue(PnJb *jb, int n, int overlap, int search) {
  int16_t *pcm = jb->queue;
  int len = jb->q_len;
  int ov = overlap < len ? overlap : len;
  if (ov < 1) ov = 1;
  if (n <= 0 || n + ov > len) return 0;
  int max_pos = search < len - n - ov ? search : len - n - ov;
  if (max_pos < 0) max_pos = 0;
  int best = 0;
  double best_distance = INFINITY;
  for (int p = 0; p <= max_pos; p++) {
    double distance = 0;
    for (int i = 0; i < ov && distance < best_distance; i++) {
      double d = (double)pcm[p + i] - (double)pcm[p + n + i];
      distance += d * d;
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = p;
    }
  }
  // In place: out[best + i] reads pcm[best + i] and pcm[best + n + i] (n ≥ 1), neither written
  // yet at step i.
  for (int i = 0; i < ov; i++) {
    double w = (i + 0.5) / ov;
    pcm[best + i] = (int16_t)js_round(pcm[best + i] * (1 - w) + pcm[best + n + i] * w);
  }
  memmove(pcm + best + ov, pcm + best + n + ov, (size_t)(len - best - n - ov) * sizeof *pcm);
  jb->q_len = len - n;
  return n;
}

int pn_jb_pull(PnJb *jb, double now_ms, int16_t *out) {
  int tick = jb->tick_samples;
  memset(out, 0, (size_t)tick * sizeof *out);
  if (!isfinite(now_ms)) return PN_JB_BUFFERING;
  if (jb->pending_reset) {
    jb->pending_reset = false;
    jb->st.resets++;
    return PN_JB_RESET_D;
  }
  if (jb->target_decay_ms_per_tick > 0) {
    jb->held_target_ms =
        js_max(quantile_target_ms(jb), jb->held_target_ms - jb->target_decay_ms_per_tick);
  }
  double target = target_delay_ms(jb);
  if (!jb->started) {
    if (jb->count == 0 || !jb->has_next_seq) return PN_JB_BUFFERING;
    if (level(jb, now_ms) < target) return PN_JB_BUFFERING;
    jb->started = true;
  }
  int decision = PN_JB_NORMAL;
#define RAISE(d)                                     \
  do {                                               \
    if (rank(d) > rank(decision)) decision = (d); \
  } while (0)
  double lvl = level(jb, now_ms);
  if (lvl > jb->max_delay_ms && jb->count > 0) {
    // Every pass takes a packet, skips one, or moves next_ts up to a packet: the count (and the
    // ring's span) bound it; the guard only keeps a broken invariant from hanging the thread.
    long guard = 4L * jb->capacity + 64;
    while (lvl > target && jb->count > 0 && guard-- > 0) {
      double seq = jb->has_next_seq ? jb->next_seq : 0;
      Slot *slot = peek(jb, seq);
      jb->q_len = 0;
      if (slot && slot->ts > jb->next_ts) {
        double excess_ts = ceil(((lvl - target) * CLOCK_RATE) / 1000);
        jb->next_ts = js_min(slot->ts, jb->next_ts + excess_ts);
      } else {
        double next_ts = slot ? slot->ts + slot->dur : jb->next_ts + jb->last_dur;
        if (slot) take(jb, slot);
        mark_fate(jb, seq, FATE_SKIPPED);
        jb->st.lost_packets++;
        jb->next_ts = next_ts;
        jb->has_next_seq = true;
        jb->next_seq = seq + 1;
      }
      lvl = level(jb, now_ms);
    }
    jb->st.accelerate_count++;
    RAISE(PN_JB_ACCELERATE);
  }
  int guard = 0;
  bool expand = false;
  if (lvl < target - jb->tick_ms) expand = true;
  while (!expand && jb->q_len < tick && guard++ < 64) {
    int step = decode_step(jb, now_ms, target, true);
    if (step == WAIT) {
      expand = true;
      break;
    }
    RAISE(step);
  }
  lvl = level(jb, now_ms);
  if (!expand && lvl - target >= jb->tick_ms * jb->accelerate_at_ticks) {
    int want = tick;
    while (jb->q_len < tick + want && guard++ < 64) {
      if (decode_step(jb, now_ms, target, false) != PN_JB_NORMAL) break;
    }
    if (jb->q_len >= tick + want) {
      int overlap = (int)js_min(tick, js_round(SAMPLE_RATE / 400));
      int search = jb->q_len - want - overlap;
      if (shorten_queue(jb, want, overlap, search) > 0) {
        jb->st.accelerate_count++;
        RAISE(PN_JB_ACCELERATE);
      }
    }
  }
  int n = tick < jb->q_len ? tick : jb->q_len;
  memcpy(out, jb->queue, (size_t)n * sizeof *out);
  memmove(jb->queue, jb->queue + n, (size_t)(jb->q_len - n) * sizeof *jb->queue);
  jb->q_len -= n;
  if (n < tick) {
    int missing = tick - n;
    safe_conceal(jb, missing);
    memcpy(out + n, jb->scratch, (size_t)missing * sizeof *out);
    jb->st.concealed_ms += (missing * 1000.0) / SAMPLE_RATE;
    jb->st.expand_count++;
    RAISE(PN_JB_EXPAND);
  }
#undef RAISE
  jb->st.played_ms += jb->tick_ms;
  jb->last_level_ms = level(jb, now_ms + jb->tick_ms);
  return decision;
}
