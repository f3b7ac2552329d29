// Offline audio processing for 10 ms mono frames behind N-API: NativeApm over the engine of
// apm_engine.h (webrtc AudioProcessing or speexdsp, chosen at construction), the code a call's
// capture thread runs (apm_pipe.cc). For `parloir audio process` and bench:aec. Not
// thread-safe: the JavaScript thread calls it.
#include <cmath>
#include <cstring>
#include <memory>

#include "apm_engine.h"

extern "C" {
#include "common.h"
}

namespace {

constexpr uint32_t kMagic = 0x41504d31;  // "APM1"

struct Apm {
  uint32_t magic = kMagic;
  bool closed = false;
  int64_t frames = 0;
  int64_t reverse_frames = 0;
  // Smoothed capture and output power over frames with far-end energy (time constant ~1 s).
  double p_in = 0, p_out = 0;
  double far_power = 0;
  std::unique_ptr<PnApmEngine> engine;
};

void finalize(napi_env, void *data, void *) { delete static_cast<Apm *>(data); }

Apm *self_of(napi_env env, napi_value self) {
  void *p = nullptr;
  if (napi_unwrap(env, self, &p) != napi_ok || p == nullptr ||
      static_cast<Apm *>(p)->magic != kMagic) {
    pn_throw(env, "APM_ERR_BAD_ARG", "method called on an object that is not a NativeApm");
    return nullptr;
  }
  Apm *a = static_cast<Apm *>(p);
  if (a->closed) {
    pn_throw(env, "APM_ERR_CLOSED", "the audio processor is closed");
    return nullptr;
  }
  return a;
}

double power(const int16_t *x, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
  return s / n;
}

// new NativeApm(engine: 'webrtc'|'speex', rate, aec, ns, agc, highPass, nsLevel 0..3, tailMs,
//               aecLevel 0..2 = low, moderate, high suppression of the residual echo (webrtc),
//               extendedFilter (webrtc))
napi_value apm_new(napi_env env, napi_callback_info info) {
  napi_value argv[10], self;
  if (!pn_args(env, info, 10, argv, nullptr, &self)) return nullptr;
  char engine[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], engine, sizeof engine, &len) != napi_ok ||
      (strcmp(engine, "webrtc") != 0 && strcmp(engine, "speex") != 0)) {
    pn_throw(env, "APM_ERR_BAD_OPTION", "engine must be 'webrtc' or 'speex'");
    return nullptr;
  }
  int64_t rate, ns_level, tail_ms, aec_level;
  bool aec, ns, agc, hpf, ext;
  if (!pn_int(env, argv[1], 1, 384000, "APM_ERR_UNSUPPORTED_RATE", "sampleRate", &rate))
    return nullptr;
  if (rate != 8000 && rate != 16000 && rate != 32000 && rate != 48000) {
    pn_throw(env, "APM_ERR_UNSUPPORTED_RATE",
             "sampleRate must be 8000, 16000, 32000 or 48000 Hz, got %lld", (long long)rate);
    return nullptr;
  }
  if (!pn_bool(env, argv[2], "APM_ERR_BAD_OPTION", "aec", &aec) ||
      !pn_bool(env, argv[3], "APM_ERR_BAD_OPTION", "ns", &ns) ||
      !pn_bool(env, argv[4], "APM_ERR_BAD_OPTION", "agc", &agc) ||
      !pn_bool(env, argv[5], "APM_ERR_BAD_OPTION", "highPass", &hpf) ||
      !pn_int(env, argv[6], 0, 3, "APM_ERR_BAD_OPTION", "nsLevel", &ns_level) ||
      !pn_int(env, argv[7], 20, 1000, "APM_ERR_BAD_OPTION", "tailMs", &tail_ms) ||
      !pn_int(env, argv[8], 0, 2, "APM_ERR_BAD_OPTION", "aecLevel", &aec_level) ||
      !pn_bool(env, argv[9], "APM_ERR_BAD_OPTION", "extendedFilter", &ext))
    return nullptr;
  PnApmConfig c;
  c.extended_filter = ext;
  c.speex = strcmp(engine, "speex") == 0;
  c.rate = (int)rate;
  c.aec = aec;
  c.ns = ns;
  c.agc = agc;
  c.hpf = hpf;
  c.ns_level = (int)ns_level;
  c.tail_ms = (int)tail_ms;
  c.aec_level = (int)aec_level;
  std::unique_ptr<Apm> a(new Apm());
  a->engine.reset(PnApmEngine::Create(c));
  if (!a->engine) {
    pn_throw(env, "APM_ERR_INTERNAL", c.speex ? "speexdsp state allocation failed"
                                              : "webrtc AudioProcessing refused the configuration");
    return nullptr;
  }
  if (napi_wrap(env, self, a.get(), finalize, nullptr, nullptr) != napi_ok) {
    pn_throw(env, "APM_ERR_INTERNAL", "napi_wrap failed");
    return nullptr;
  }
  a.release();
  return self;
}

bool frame_arg(napi_env env, Apm *a, napi_value v, int16_t **data) {
  void *p;
  size_t n;
  if (!pn_typed(env, v, napi_int16_array, "APM_ERR_BAD_ARG", "frame", &p, &n)) return false;
  if ((int)n != a->engine->frame()) {
    pn_throw(env, "APM_ERR_BAD_ARG", "frame must hold %d samples (10 ms at %d Hz), got %zu",
             a->engine->frame(), a->engine->config().rate, n);
    return false;
  }
  *data = static_cast<int16_t *>(p);
  return true;
}

// processReverse(far: Int16Array): feeds the frame being played (the echo reference).
napi_value apm_reverse(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  int16_t *x;
  if (!a || !frame_arg(env, a, argv[0], &x)) return nullptr;
  a->far_power = power(x, a->engine->frame());
  a->reverse_frames++;
  a->engine->Reverse(x);
  return nullptr;
}

// process(near: Int16Array): processes one capture frame in place.
napi_value apm_process(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  int16_t *x;
  if (!a || !frame_arg(env, a, argv[0], &x)) return nullptr;
  const int n = a->engine->frame();
  double pin = power(x, n);
  a->engine->Process(x);
  a->frames++;
  if (a->far_power > 1e3) {  // far end playing (above about -45 dBFS)
    const double k = 0.01;
    a->p_in += k * (pin - a->p_in);
    a->p_out += k * (power(x, n) - a->p_out);
  }
  return nullptr;
}

napi_value apm_set_delay(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  if (!a) return nullptr;
  int64_t ms;
  if (!pn_int(env, argv[0], 0, a->engine->MaxDelayMs(), "APM_ERR_BAD_ARG", "delayMs", &ms))
    return nullptr;
  a->engine->SetDelayMs((int)ms);
  return nullptr;
}

napi_value apm_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 0, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  if (!a) return nullptr;
  const PnApmEngine *e = a->engine.get();
  napi_value o;
  napi_create_object(env, &o);
  pn_set_str(env, o, "engine", e->config().speex ? "speex" : "webrtc");
  pn_set_num(env, o, "frames", (double)a->frames);
  pn_set_num(env, o, "reverseFrames", (double)a->reverse_frames);
  pn_set_num(env, o, "delayMs", e->delay_ms());
  pn_set_num(env, o, "errors", (double)e->errors);
  pn_set_num(env, o, "lastError", e->last_error);
  double erle = a->p_out > 0 && a->p_in > 0 ? 10 * std::log10(a->p_in / a->p_out) : NAN;
  pn_set_num(env, o, "measuredErleDb", erle);
  PnApmEcho echo;
  e->Echo(&echo);
  pn_set_num(env, o, "libraryErleDb", echo.erle_db);
  pn_set_num(env, o, "libraryErlDb", echo.erl_db);
  pn_set_num(env, o, "libraryDelayMs", echo.delay_ms);
  pn_set_num(env, o, "fractionPoorDelays", echo.fraction_poor);
  pn_set_bool(env, o, "streamHasEcho", echo.has_echo);
  return o;
}

napi_value apm_close(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 0, argv, nullptr, &self)) return nullptr;
  void *p = nullptr;
  if (napi_unwrap(env, self, &p) != napi_ok || p == nullptr ||
      static_cast<Apm *>(p)->magic != kMagic) {
    pn_throw(env, "APM_ERR_BAD_ARG", "method called on an object that is not a NativeApm");
    return nullptr;
  }
  Apm *a = static_cast<Apm *>(p);
  a->engine.reset();
  a->closed = true;
  return nullptr;
}

}  // namespace

extern "C" napi_value pn_apm_init(napi_env env, napi_value exports) {
  napi_property_descriptor p[] = {
      {"processReverse", nullptr, apm_reverse, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"process", nullptr, apm_process, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setStreamDelayMs", nullptr, apm_set_delay, nullptr, nullptr, nullptr, napi_default,
       nullptr},
      {"stats", nullptr, apm_stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, apm_close, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  napi_define_class(env, "NativeApm", NAPI_AUTO_LENGTH, apm_new, nullptr, sizeof p / sizeof p[0],
                    p, &cls);
  napi_set_named_property(env, exports, "NativeApm", cls);
  return exports;
}
