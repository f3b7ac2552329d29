// Audio processing for 10 ms mono frames behind N-API: Debian's libwebrtc-audio-processing (the
// WebRTC AudioProcessing module, 0.3 API: AEC with extended filter and delay-agnostic mode, noise
// suppression, adaptive digital AGC, high-pass filter) or speexdsp (src/speex_ec.c) as the
// baseline. One class, NativeApm; the engine is chosen at construction. Not thread-safe: one
// thread calls it (the TypeScript wrapper, or later the capture thread).
#include <cmath>
#include <cstring>
#include <memory>

#include <webrtc/common.h>
#include <webrtc/modules/audio_processing/include/audio_processing.h>

extern "C" {
#include "common.h"
#include "speex_ec.h"
}

namespace {

constexpr uint32_t kMagic = 0x41504d31;  // "APM1"

struct Apm {
  uint32_t magic = kMagic;
  bool closed = false;
  bool speex = false;
  int rate = 48000;
  int frame = 480;
  bool aec = false;
  int delay_ms = 0;
  int64_t frames = 0;
  int64_t reverse_frames = 0;
  int errors = 0;
  int last_error = 0;
  // Smoothed capture and output power over frames with far-end energy (time constant ~1 s).
  double p_in = 0, p_out = 0;
  double far_power = 0;
  webrtc::AudioProcessing *webrtc = nullptr;
  PnSpeexEc *spx = nullptr;
  float *fbuf = nullptr;

  void release() {
    delete webrtc;
    webrtc = nullptr;
    pn_spx_free(spx);
    spx = nullptr;
    delete[] fbuf;
    fbuf = nullptr;
  }
  ~Apm() { release(); }
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
//               aecLevel 0..2 = low, moderate, high suppression of the residual echo (webrtc))
napi_value apm_new(napi_env env, napi_callback_info info) {
  napi_value argv[9], self;
  if (!pn_args(env, info, 9, argv, nullptr, &self)) return nullptr;
  char engine[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], engine, sizeof engine, &len) != napi_ok ||
      (strcmp(engine, "webrtc") != 0 && strcmp(engine, "speex") != 0)) {
    pn_throw(env, "APM_ERR_BAD_OPTION", "engine must be 'webrtc' or 'speex'");
    return nullptr;
  }
  int64_t rate, ns_level, tail_ms, aec_level;
  bool aec, ns, agc, hpf;
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
      !pn_int(env, argv[8], 0, 2, "APM_ERR_BAD_OPTION", "aecLevel", &aec_level))
    return nullptr;
  std::unique_ptr<Apm> a(new Apm());
  a->rate = (int)rate;
  a->frame = (int)rate / 100;
  a->aec = aec;
  a->speex = strcmp(engine, "speex") == 0;
  if (a->speex) {
    static const int kNsDb[4] = {6, 12, 18, 25};
    a->spx = pn_spx_new(a->rate, a->frame, (int)(rate * tail_ms / 1000), aec, ns, agc,
                        kNsDb[ns_level]);
    if (!a->spx) {
      pn_throw(env, "APM_ERR_INTERNAL", "speexdsp state allocation failed");
      return nullptr;
    }
  } else {
    webrtc::Config config;
    config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
    config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
    a->webrtc = webrtc::AudioProcessing::Create(config);
    if (!a->webrtc) {
      pn_throw(env, "APM_ERR_INTERNAL", "webrtc::AudioProcessing::Create failed");
      return nullptr;
    }
    webrtc::AudioProcessing *w = a->webrtc;
    int err = 0;
    err |= w->high_pass_filter()->Enable(hpf);
    err |= w->echo_cancellation()->Enable(aec);
    if (aec) {
      err |= w->echo_cancellation()->set_suppression_level(
          static_cast<webrtc::EchoCancellation::SuppressionLevel>(aec_level));
      err |= w->echo_cancellation()->enable_metrics(true);
      err |= w->echo_cancellation()->enable_delay_logging(true);
    }
    err |= w->noise_suppression()->Enable(ns);
    if (ns)
      err |= w->noise_suppression()->set_level(
          static_cast<webrtc::NoiseSuppression::Level>(ns_level));
    err |= w->gain_control()->Enable(agc);
    if (agc) {
      err |= w->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
      err |= w->gain_control()->set_target_level_dbfs(3);
      err |= w->gain_control()->set_compression_gain_db(9);
      err |= w->gain_control()->enable_limiter(true);
    }
    if (err != 0) {
      pn_throw(env, "APM_ERR_INTERNAL", "webrtc AudioProcessing refused the configuration");
      return nullptr;
    }
    a->fbuf = new float[a->frame];
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
  if ((int)n != a->frame) {
    pn_throw(env, "APM_ERR_BAD_ARG", "frame must hold %d samples (10 ms at %d Hz), got %zu",
             a->frame, a->rate, n);
    return false;
  }
  *data = static_cast<int16_t *>(p);
  return true;
}

webrtc::StreamConfig stream_config(const Apm *a) { return webrtc::StreamConfig(a->rate, 1); }

// processReverse(far: Int16Array): feeds the frame being played (the echo reference).
napi_value apm_reverse(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  int16_t *x;
  if (!a || !frame_arg(env, a, argv[0], &x)) return nullptr;
  a->far_power = power(x, a->frame);
  a->reverse_frames++;
  if (a->speex) {
    pn_spx_reverse(a->spx, x);
  } else {
    for (int i = 0; i < a->frame; i++) a->fbuf[i] = x[i] / 32768.0f;
    float *ch[1] = {a->fbuf};
    webrtc::StreamConfig sc = stream_config(a);
    int r = a->webrtc->ProcessReverseStream(ch, sc, sc, ch);
    if (r != 0) {
      a->errors++;
      a->last_error = r;
    }
  }
  return nullptr;
}

// process(near: Int16Array): processes one capture frame in place.
napi_value apm_process(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  int16_t *x;
  if (!a || !frame_arg(env, a, argv[0], &x)) return nullptr;
  double pin = power(x, a->frame);
  if (a->speex) {
    pn_spx_process(a->spx, x, a->delay_ms * a->rate / 1000);
  } else {
    for (int i = 0; i < a->frame; i++) a->fbuf[i] = x[i] / 32768.0f;
    float *ch[1] = {a->fbuf};
    webrtc::StreamConfig sc = stream_config(a);
    if (a->aec) a->webrtc->set_stream_delay_ms(a->delay_ms);
    int r = a->webrtc->ProcessStream(ch, sc, sc, ch);
    if (r != 0) {
      a->errors++;
      a->last_error = r;
    }
    for (int i = 0; i < a->frame; i++) {
      float v = a->fbuf[i] * 32768.0f;
      x[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
    }
  }
  a->frames++;
  if (a->far_power > 1e3) {  // far end playing (above about -45 dBFS)
    const double k = 0.01;
    a->p_in += k * (pin - a->p_in);
    a->p_out += k * (power(x, a->frame) - a->p_out);
  }
  return nullptr;
}

napi_value apm_set_delay(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  if (!a) return nullptr;
  int64_t max_ms = a->speex ? (int64_t)pn_spx_max_delay(a->spx) * 1000 / a->rate : 500;
  int64_t ms;
  if (!pn_int(env, argv[0], 0, max_ms, "APM_ERR_BAD_ARG", "delayMs", &ms)) return nullptr;
  a->delay_ms = (int)ms;
  return nullptr;
}

napi_value apm_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 0, argv, nullptr, &self)) return nullptr;
  Apm *a = self_of(env, self);
  if (!a) return nullptr;
  napi_value o;
  napi_create_object(env, &o);
  pn_set_str(env, o, "engine", a->speex ? "speex" : "webrtc");
  pn_set_num(env, o, "frames", (double)a->frames);
  pn_set_num(env, o, "reverseFrames", (double)a->reverse_frames);
  pn_set_num(env, o, "delayMs", a->delay_ms);
  pn_set_num(env, o, "errors", a->errors);
  pn_set_num(env, o, "lastError", a->last_error);
  double erle = a->p_out > 0 && a->p_in > 0 ? 10 * std::log10(a->p_in / a->p_out) : NAN;
  pn_set_num(env, o, "measuredErleDb", erle);
  double lib_erle = NAN, lib_erl = NAN, lib_delay = NAN, poor = NAN;
  bool has_echo = false;
  if (!a->speex && a->aec) {
    webrtc::EchoCancellation *ec = a->webrtc->echo_cancellation();
    webrtc::EchoCancellation::Metrics m;
    if (ec->GetMetrics(&m) == 0) {
      // -100 is the library's "no value yet".
      if (m.echo_return_loss_enhancement.average > -100) lib_erle = m.echo_return_loss_enhancement.average;
      if (m.echo_return_loss.average > -100) lib_erl = m.echo_return_loss.average;
    }
    int median = 0, std_ = 0;
    float fp = 0;
    if (ec->GetDelayMetrics(&median, &std_, &fp) == 0) {
      lib_delay = median;
      poor = fp;
    }
    has_echo = ec->stream_has_echo();
  }
  pn_set_num(env, o, "libraryErleDb", lib_erle);
  pn_set_num(env, o, "libraryErlDb", lib_erl);
  pn_set_num(env, o, "libraryDelayMs", lib_delay);
  pn_set_num(env, o, "fractionPoorDelays", poor);
  pn_set_bool(env, o, "streamHasEcho", has_echo);
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
  a->release();
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
