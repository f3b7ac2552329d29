// NativeJitterBuffer: a thin N-API class over jitter.c, for tests and the JavaScript receive
// path. Every argument is checked here; jitter.c itself never fails on packet contents.
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "jitter.h"

#define JB_MAGIC 0x4a42554eu  // "JBUF"

typedef struct {
  uint32_t magic;
  PnJb *jb;
} Wrap;

static void jb_finalize(napi_env env, void *data, void *hint) {
  Wrap *w = data;
  pn_jb_free(w->jb);
  free(w);
}

static Wrap *jb_this(napi_env env, napi_value self, bool open) {
  void *p = NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL || ((Wrap *)p)->magic != JB_MAGIC) {
    pn_throw(env, "JITTER_ERR_BAD_ARG", "method called on an object that is not a jitter buffer");
    return NULL;
  }
  Wrap *w = p;
  if (open && w->jb == NULL) {
    pn_throw(env, "JITTER_ERR_CLOSED", "the jitter buffer is closed");
    return NULL;
  }
  return w;
}

static bool get_num(napi_env env, napi_value v, const char *code, const char *what, double *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, out) != napi_ok || !isfinite(*out)) {
    pn_throw(env, code, "%s must be a finite number", what);
    return false;
  }
  return true;
}

// Reads options.<key> if it is not undefined. Returns false with an exception pending.
static bool opt_num(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok)
    return false;
  if (t == napi_undefined) return true;
  return get_num(env, v, "JITTER_ERR_BAD_OPTION", key, out);
}

// new NativeJitterBuffer(options)
static napi_value jb_new(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_object) {
    pn_throw(env, "JITTER_ERR_BAD_OPTION", "options must be an object");
    return NULL;
  }
  PnJbOptions o;
  pn_jb_default_options(&o);
  double tick = o.tick_ms, cap = o.capacity;
  if (!opt_num(env, argv[0], "tickMs", &tick) ||
      !opt_num(env, argv[0], "minDelayMs", &o.min_delay_ms) ||
      !opt_num(env, argv[0], "maxDelayMs", &o.max_delay_ms) ||
      !opt_num(env, argv[0], "capacity", &cap) ||
      !opt_num(env, argv[0], "quantile", &o.quantile) ||
      !opt_num(env, argv[0], "inOrderQuantile", &o.in_order_quantile) ||
      !opt_num(env, argv[0], "marginMs", &o.margin_ms) ||
      !opt_num(env, argv[0], "historyMs", &o.history_ms) ||
      !opt_num(env, argv[0], "initialDelayMs", &o.initial_delay_ms) ||
      !opt_num(env, argv[0], "accelerateAtTicks", &o.accelerate_at_ticks) ||
      !opt_num(env, argv[0], "targetDecayMsPerS", &o.target_decay_ms_per_s))
    return NULL;
  napi_value fv;
  napi_valuetype ft;
  napi_get_named_property(env, argv[0], "fec", &fv);
  napi_typeof(env, fv, &ft);
  if (ft != napi_undefined && !pn_bool(env, fv, "JITTER_ERR_BAD_OPTION", "fec", &o.fec))
    return NULL;
  if (tick != floor(tick) || tick <= 0 || tick > 60) {
    pn_throw(env, "JITTER_ERR_BAD_OPTION", "tickMs must be an integer in (0, 60], got %g", tick);
    return NULL;
  }
  cap = floor(cap);  // as the TS buffer does (then at least 16)
  if (cap > PN_JB_MAX_CAPACITY) {
    pn_throw(env, "JITTER_ERR_BAD_OPTION", "capacity must be at most %d packets",
             PN_JB_MAX_CAPACITY);
    return NULL;
  }
  o.tick_ms = (int)tick;
  o.capacity = cap < 16 ? 16 : (int)cap;
  const char *why = "unknown";
  PnJb *jb = pn_jb_new(&o, &why);
  if (!jb) {
    pn_throw(env, "JITTER_ERR_BAD_OPTION", "%s", why);
    return NULL;
  }
  Wrap *w = calloc(1, sizeof *w);
  if (!w) {
    pn_jb_free(jb);
    pn_throw(env, "JITTER_ERR_INTERNAL", "out of memory");
    return NULL;
  }
  w->magic = JB_MAGIC;
  w->jb = jb;
  if (napi_wrap(env, self, w, jb_finalize, NULL, NULL) != napi_ok) {
    jb_finalize(env, w, NULL);
    pn_throw(env, "JITTER_ERR_INTERNAL", "napi_wrap failed");
    return NULL;
  }
  return self;
}

// insert(seq, timestamp, ssrc, marker, payload, arrivalMs): InsertOutcome index
static napi_value jb_insert(napi_env env, napi_callback_info info) {
  napi_value argv[6], self;
  if (!pn_args(env, info, 6, argv, NULL, &self)) return NULL;
  Wrap *w = jb_this(env, self, true);
  if (!w) return NULL;
  int64_t seq, ts, ssrc;
  bool marker;
  uint8_t *data;
  size_t len;
  double arrival;
  if (!pn_int(env, argv[0], 0, 65535, "JITTER_ERR_BAD_ARG", "sequenceNumber", &seq) ||
      !pn_int(env, argv[1], 0, UINT32_MAX, "JITTER_ERR_BAD_ARG", "timestamp", &ts) ||
      !pn_int(env, argv[2], 0, UINT32_MAX, "JITTER_ERR_BAD_ARG", "ssrc", &ssrc) ||
      !pn_bool(env, argv[3], "JITTER_ERR_BAD_ARG", "marker", &marker) ||
      !pn_typed(env, argv[4], napi_uint8_array, "JITTER_ERR_BAD_ARG", "payload", (void **)&data,
                &len) ||
      !get_num(env, argv[5], "JITTER_ERR_BAD_ARG", "arrivalMs", &arrival))
    return NULL;
  int r = pn_jb_insert(w->jb, (uint16_t)seq, (uint32_t)ts, (uint32_t)ssrc, marker, data, len,
                       arrival);
  napi_value out;
  napi_create_int32(env, r, &out);
  return out;
}

// pull(nowMs, out: Int16Array of at least tickSamples): PlayoutDecision index
static napi_value jb_pull(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  Wrap *w = jb_this(env, self, true);
  if (!w) return NULL;
  double now;
  int16_t *pcm;
  size_t len;
  if (!get_num(env, argv[0], "JITTER_ERR_BAD_ARG", "nowMs", &now) ||
      !pn_typed(env, argv[1], napi_int16_array, "JITTER_ERR_BAD_ARG", "out", (void **)&pcm, &len))
    return NULL;
  if (len < (size_t)pn_jb_tick_samples(w->jb)) {
    pn_throw(env, "JITTER_ERR_BAD_ARG", "out holds %zu samples, a tick is %d", len,
             pn_jb_tick_samples(w->jb));
    return NULL;
  }
  int r = pn_jb_pull(w->jb, now, pcm);
  napi_value out;
  napi_create_int32(env, r, &out);
  return out;
}

static napi_value jb_tick_samples(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Wrap *w = jb_this(env, self, true);
  if (!w) return NULL;
  napi_value out;
  napi_create_int32(env, pn_jb_tick_samples(w->jb), &out);
  return out;
}

// setDelayBounds(minMs, maxMs)
static napi_value jb_set_bounds(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  Wrap *w = jb_this(env, self, true);
  if (!w) return NULL;
  double lo, hi;
  if (!get_num(env, argv[0], "JITTER_ERR_BAD_OPTION", "minMs", &lo) ||
      !get_num(env, argv[1], "JITTER_ERR_BAD_OPTION", "maxMs", &hi))
    return NULL;
  if (pn_jb_set_bounds(w->jb, lo, hi) != 0) {
    pn_throw(env, "JITTER_ERR_BAD_OPTION", "bad delay bounds [%g, %g] ms", lo, hi);
    return NULL;
  }
  return NULL;
}

// The buffer's counters as a JavaScript object under the TS JitterBufferStats names (also
// receiver.c's).
napi_value pn_jb_stats_js(napi_env env, const PnJbStats *s) {
  napi_value o;
  napi_create_object(env, &o);
  pn_set_num(env, o, "packetsReceived", (double)s->packets_received);
  pn_set_num(env, o, "packetsPlayed", (double)s->packets_played);
  pn_set_num(env, o, "duplicates", (double)s->duplicates);
  pn_set_num(env, o, "latePackets", (double)s->late_packets);
  pn_set_num(env, o, "lostPackets", (double)s->lost_packets);
  pn_set_num(env, o, "fecRecovered", (double)s->fec_recovered);
  pn_set_num(env, o, "plcPackets", (double)s->plc_packets);
  pn_set_num(env, o, "concealedMs", s->concealed_ms);
  pn_set_num(env, o, "playedMs", s->played_ms);
  pn_set_num(env, o, "accelerateCount", (double)s->accelerate_count);
  pn_set_num(env, o, "expandCount", (double)s->expand_count);
  pn_set_num(env, o, "resets", (double)s->resets);
  pn_set_num(env, o, "malformedPackets", (double)s->malformed_packets);
  pn_set_num(env, o, "currentDelayMs", s->current_delay_ms);
  pn_set_num(env, o, "targetDelayMs", s->target_delay_ms);
  pn_set_num(env, o, "bufferedPackets", (double)s->buffered_packets);
  pn_set_num(env, o, "minDelayMs", s->min_delay_ms);
  pn_set_num(env, o, "maxDelayMs", s->max_delay_ms);
  return o;
}

static napi_value jb_stats(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Wrap *w = jb_this(env, self, true);
  if (!w) return NULL;
  PnJbStats s;
  pn_jb_stats(w->jb, &s);
  return pn_jb_stats_js(env, &s);
}

static napi_value jb_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Wrap *w = jb_this(env, self, false);
  if (!w) return NULL;
  pn_jb_free(w->jb);
  w->jb = NULL;
  return NULL;
}

napi_value pn_jitter_init(napi_env env, napi_value exports) {
  napi_property_descriptor p[] = {
      {"insert", NULL, jb_insert, NULL, NULL, NULL, napi_default, NULL},
      {"pull", NULL, jb_pull, NULL, NULL, NULL, napi_default, NULL},
      {"tickSamples", NULL, jb_tick_samples, NULL, NULL, NULL, napi_default, NULL},
      {"setDelayBounds", NULL, jb_set_bounds, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, jb_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, jb_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativeJitterBuffer", NAPI_AUTO_LENGTH, jb_new, NULL,
                    sizeof p / sizeof p[0], p, &cls);
  napi_set_named_property(env, exports, "NativeJitterBuffer", cls);
  return exports;
}
