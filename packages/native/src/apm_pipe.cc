// A call's audio processing in the C pipeline (issue 20): the capture frame goes through the
// engine of apm_engine.h (webrtc AudioProcessing or speexdsp) on the capture thread, before
// gain and Opus (sender.c), against the far-end reference: what the playback thread actually
// writes to the device, after volume (receiver.c's pull, for ALSA and for the paced device).
//
// The reference crosses threads in a lock-free ring indexed by device time: a sample's slot is
// the 48 kHz tick of CLOCK_MONOTONIC at which it plays (ALSA: the pull's play time, which
// pcm.c derives from snd_pcm_delay; paced devices: their own clock). The capture thread feeds
// the engine the reference that played while each capture frame was recorded, so what is left
// between the reference and its echo is the room (and whatever delay the device does not
// report): webrtc's delay-agnostic mode finds it (measured in bench:aec and the acoustic e2e
// test), speexdsp's adaptive filter spans it (200 ms tail).
//
// JavaScript changes the settings (engine, aec/ns/agc on or off, levels) at any time; the
// capture thread applies them before its next frame, in place where webrtc allows it. Counters
// and the canceller's state are published in atomics for stats().
//
// For tests, a paced capture (`wav:`/`null`) can hear the paced playback through a simulated
// room (an FIR from @parloir/media's Room, a bulk delay and a gain): the acoustic echo loop of a
// laptop, read from the same ring.
#include "apm_pipe.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "apm_engine.h"

extern "C" {
#include "common.h"
#include "receiver.h"
#include "sender.h"
}

namespace {

constexpr uint32_t kMagic = 0x41504950;  // "APIP"
constexpr int kRate = 48000;
constexpr int kFrame = 480;             // 10 ms
constexpr int64_t kRing = 1 << 16;      // samples (1.37 s), power of two
constexpr int64_t kRingGuard = 1 << 13;  // slots near the writer that a reader does not trust
constexpr int kResyncSamples = 480;     // a play time 10 ms off the running one restarts it
constexpr int kMaxFrame = 2880;
constexpr int kMaxIr = 4800;           // room response taps (100 ms)
constexpr int kStatsEvery = 25;        // frames between published library metrics
constexpr int kErleFrames = 100;       // far-active frames the ERLE is taken over

int64_t tick_of(int64_t ns) { return ns / 125000 * 6 + (ns % 125000) * 6 / 125000; }

double power(const int16_t *x, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
  return s / n;
}

}  // namespace

struct PnApmPipe {
  uint32_t magic = kMagic;
  std::atomic<int> refs{1};
  std::atomic<bool> closed{false};

  // Far-end ring: written by the playback thread only. Relaxed atomics (plain moves on x86): a
  // reader that falls more than the guard behind may meet a slot being rewritten; it then
  // discards that sample (read_far checks the head again), and the access is not a data race.
  std::atomic<int16_t> ring[kRing];
  std::atomic<int64_t> head{0};  // device tick one past the newest sample written
  int64_t w_next = 0;
  bool w_have = false;
  std::atomic<uint64_t> far_samples{0}, far_resyncs{0};

  // Settings: JavaScript writes `want` under cfg_mu and bumps gen; the capture thread copies.
  std::mutex cfg_mu;
  PnApmConfig want;
  bool want_on = false;
  int want_delay_ms = 0;
  std::atomic<uint32_t> gen{1};

  // Capture thread.
  uint32_t have_gen = 0;
  bool on = false;
  std::unique_ptr<PnApmEngine> engine;
  int64_t rev_next = 0;
  bool rev_have = false;
  double far_power = 0;
  // Paced capture (wav:/null): the due time of the frame the paced thread feeds next, which is
  // when it was captured on the device's clock (the thread's wakeup comes later, by however
  // long the machine made it wait). Set and read on that one thread.
  bool paced = false;
  int64_t paced_end_ns = 0;
  int64_t far_active = 0;  // frames with far energy since the AEC was (re)started
  // Per-frame ERLE (dB) of the last kErleFrames frames in which the far end played.
  float erle_ring[kErleFrames];
  int16_t rev[kFrame];

  // Published by the capture thread.
  std::atomic<uint64_t> frames{0}, bypassed{0}, ref_missing{0}, rebuilds{0}, failures{0};
  std::atomic<double> erle_db{NAN}, lib_erle_db{NAN}, lib_delay_ms{NAN};
  std::atomic<bool> has_echo{false}, converged{false};
  std::atomic<int64_t> errors{0};
  std::atomic<int> engine_on{0};  // 0 off, 1 webrtc, 2 speex

  // Simulated room (tests): fixed at construction.
  float *ir = nullptr;
  int ir_len = 0;
  int room_delay = 0;  // samples
  float room_gain = 0;
  float room_buf[kMaxFrame + kMaxIr];

  ~PnApmPipe() { delete[] ir; }
};

extern "C" void pn_apm_pipe_ref(PnApmPipe *p) { p->refs.fetch_add(1); }

extern "C" void pn_apm_pipe_unref(PnApmPipe *p) {
  if (p->refs.fetch_sub(1) == 1) {
    p->magic = 0;
    delete p;
  }
}

extern "C" void pn_apm_pipe_far(PnApmPipe *p, const int16_t *pcm, size_t n, int64_t play_at_ns) {
  int64_t at = tick_of(play_at_ns);
  int64_t h = p->head.load(std::memory_order_relaxed);
  if (!p->w_have || at - p->w_next > kResyncSamples || p->w_next - at > kResyncSamples) {
    // First write, a starved or restarted device, or drift past 10 ms: restart from the play
    // time given. A gap in between played silence.
    if (p->w_have) p->far_resyncs.fetch_add(1, std::memory_order_relaxed);
    if (p->w_have && at > h) {
      for (int64_t i = h > at - kRing ? h : at - kRing; i < at; i++)
        p->ring[i & (kRing - 1)].store(0, std::memory_order_relaxed);
    }
    p->w_next = at;
    p->w_have = true;
  }
  for (size_t i = 0; i < n; i++)
    p->ring[(p->w_next + (int64_t)i) & (kRing - 1)].store(pcm[i], std::memory_order_relaxed);
  p->w_next += (int64_t)n;
  if (p->w_next > h) p->head.store(p->w_next, std::memory_order_release);
  p->far_samples.fetch_add(n, std::memory_order_relaxed);
}

// Copies the reference for device ticks [from, from + n) into `out`; missing samples (not
// played yet, or overwritten) are zero. Returns whether all were there.
static bool read_far(PnApmPipe *p, int64_t from, int n, int16_t *out) {
  int64_t h = p->head.load(std::memory_order_acquire);
  int64_t lo = h - kRing + kRingGuard;
  bool all = true;
  for (int i = 0; i < n; i++) {
    int64_t k = from + i;
    if (k < lo || k >= h) {
      out[i] = 0;
      all = false;
    } else {
      out[i] = p->ring[k & (kRing - 1)].load(std::memory_order_relaxed);
    }
  }
  // Samples the writer may have reached while we copied (we fell behind by more than the guard)
  // are not trusted.
  int64_t lo2 = p->head.load(std::memory_order_acquire) - kRing + kRingGuard;
  for (int i = 0; i < n && from + i < lo2; i++) {
    out[i] = 0;
    all = false;
  }
  return all;
}

// Capture thread: takes the settings JavaScript asked for; builds a new engine when the one in
// use cannot change in place.
static void apply_settings(PnApmPipe *p) {
  uint32_t g = p->gen.load(std::memory_order_acquire);
  if (g == p->have_gen) return;
  PnApmConfig c;
  bool on;
  int delay;
  {
    std::lock_guard<std::mutex> lock(p->cfg_mu);
    c = p->want;
    on = p->want_on;
    delay = p->want_delay_ms;
    g = p->gen.load(std::memory_order_relaxed);
  }
  p->have_gen = g;
  bool aec_was = p->on && p->engine && p->engine->config().aec;
  p->on = on;
  if (!on) {
    p->engine.reset();
  } else if (!p->engine || !p->engine->Reconfigure(c)) {
    p->engine.reset(PnApmEngine::Create(c));
    p->rebuilds.fetch_add(1, std::memory_order_relaxed);
    if (!p->engine) {
      p->failures.fetch_add(1, std::memory_order_relaxed);
      p->on = false;
    }
  }
  if (p->engine) p->engine->SetDelayMs(delay < p->engine->MaxDelayMs() ? delay : 0);
  bool aec_now = p->on && p->engine->config().aec;
  if (aec_now != aec_was) {
    p->rev_have = false;
    p->far_active = 0;
    p->erle_db.store(NAN);
    p->converged.store(false);
  }
  p->engine_on.store(!p->on ? 0 : p->engine->config().speex ? 2 : 1);
}

static void publish(PnApmPipe *p) {
  PnApmEcho e;
  p->engine->Echo(&e);
  p->lib_erle_db.store(e.erle_db, std::memory_order_relaxed);
  p->lib_delay_ms.store(e.delay_ms, std::memory_order_relaxed);
  p->has_echo.store(e.has_echo, std::memory_order_relaxed);
  p->errors.store(p->engine->errors, std::memory_order_relaxed);
  bool aec = p->engine->config().aec;
  // ERLE over the last second of far-end activity: its 80th percentile per frame. Frames where
  // the near end speaks too (double talk) lose little power in the canceller and fall in the
  // lower part; the upper fifth are the frames of echo alone.
  double erle = NAN;
  int n = p->far_active < kErleFrames ? (int)p->far_active : kErleFrames;
  if (aec && n >= 10) {
    float v[kErleFrames];
    std::copy(p->erle_ring, p->erle_ring + n, v);
    std::nth_element(v, v + n * 4 / 5, v + n);
    erle = v[n * 4 / 5];
  }
  p->erle_db.store(erle, std::memory_order_relaxed);
  // Converged: the far end has played for a second since the AEC started and the echo it
  // brought is down by 10 dB or more.
  p->converged.store(aec && p->far_active >= kErleFrames && erle >= 10,
                     std::memory_order_relaxed);
}

extern "C" void pn_apm_pipe_capture(PnApmPipe *p, int16_t *pcm, size_t n, int64_t t_end_ns) {
  if (p->closed.load(std::memory_order_relaxed)) return;
  apply_settings(p);
  if (!p->on) return;
  if (n % kFrame != 0) {
    p->bypassed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  PnApmEngine *e = p->engine.get();
  const bool aec = e->config().aec;
  int64_t end = tick_of(p->paced ? p->paced_end_ns : t_end_ns) - (int64_t)n;  // end of the first 10 ms less one frame
  for (size_t off = 0; off < n; off += kFrame) {
    int16_t *x = pcm + off;
    end += kFrame;
    if (aec) {
      // The reference that played while this frame was captured, one frame after another.
      if (!p->rev_have || p->rev_next > end || end - p->rev_next > kRing / 2) {
        p->rev_next = end - kFrame;
        p->rev_have = true;
      }
      while (p->rev_next + kFrame <= end) {
        if (!read_far(p, p->rev_next, kFrame, p->rev))
          p->ref_missing.fetch_add(1, std::memory_order_relaxed);
        p->far_power = power(p->rev, kFrame);
        e->Reverse(p->rev);
        p->rev_next += kFrame;
      }
    }
    double pin = power(x, kFrame);
    e->Process(x);
    uint64_t f = p->frames.fetch_add(1, std::memory_order_relaxed) + 1;
    if (aec && p->far_power > 1e4) {  // far end playing (above about -35 dBFS)
      double pout = power(x, kFrame);
      p->erle_ring[p->far_active % kErleFrames] = (float)(10 * std::log10((pin + 1) / (pout + 1)));
      p->far_active++;
    }
    if (f % kStatsEvery == 0) publish(p);
  }
}

extern "C" void pn_apm_pipe_acoustic(PnApmPipe *p, int16_t *pcm, size_t n, int64_t t_end_ns) {
  p->paced = true;
  p->paced_end_ns = t_end_ns;
  if (p->ir_len == 0 || n > (size_t)kMaxFrame) return;
  const int L = p->ir_len;
  // Output sample i (device tick t0 + i) hears far[t0 + i - delay - k] through tap k.
  int64_t t0 = tick_of(t_end_ns) - (int64_t)n;
  int64_t from = t0 - p->room_delay - (L - 1);
  int16_t tmp[256];
  int total = (int)n + L - 1;
  for (int done = 0; done < total; done += 256) {
    int m = total - done < 256 ? total - done : 256;
    read_far(p, from + done, m, tmp);
    for (int i = 0; i < m; i++) p->room_buf[done + i] = tmp[i];
  }
  for (size_t i = 0; i < n; i++) {
    const float *x = p->room_buf + i + L - 1;
    float acc = 0;
    for (int k = 0; k < L; k++) acc += p->ir[k] * x[-k];
    float v = (float)pcm[i] + p->room_gain * acc;
    pcm[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
  }
}

// ---------------------------------------------------------------------------------------------
// JavaScript: NativeAudioPipe

namespace {

void finalize(napi_env, void *data, void *) {
  PnApmPipe *p = static_cast<PnApmPipe *>(data);
  p->closed.store(true);
  pn_apm_pipe_unref(p);
}

PnApmPipe *self_of(napi_env env, napi_value self, bool must_be_open) {
  void *v = nullptr;
  if (napi_unwrap(env, self, &v) != napi_ok || v == nullptr ||
      static_cast<PnApmPipe *>(v)->magic != kMagic) {
    pn_throw(env, "APM_ERR_BAD_ARG", "method called on an object that is not a NativeAudioPipe");
    return nullptr;
  }
  PnApmPipe *p = static_cast<PnApmPipe *>(v);
  if (must_be_open && p->closed.load()) {
    pn_throw(env, "APM_ERR_CLOSED", "the audio pipe is closed");
    return nullptr;
  }
  return p;
}

// Reads (engine, aec, ns, agc, highPass, nsLevel 0..3, aecLevel 0..2, tailMs, delayMs,
// extendedFilter) from argv[0..9].
bool read_config(napi_env env, napi_value *argv, PnApmConfig *c, bool *on, int *delay) {
  char engine[16] = {0};
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[0], engine, sizeof engine, &len) != napi_ok ||
      (strcmp(engine, "webrtc") != 0 && strcmp(engine, "speex") != 0)) {
    pn_throw(env, "APM_ERR_BAD_OPTION", "engine must be 'webrtc' or 'speex'");
    return false;
  }
  int64_t ns_level, aec_level, tail_ms, delay_ms;
  if (!pn_bool(env, argv[1], "APM_ERR_BAD_OPTION", "aec", &c->aec) ||
      !pn_bool(env, argv[2], "APM_ERR_BAD_OPTION", "ns", &c->ns) ||
      !pn_bool(env, argv[3], "APM_ERR_BAD_OPTION", "agc", &c->agc) ||
      !pn_bool(env, argv[4], "APM_ERR_BAD_OPTION", "highPass", &c->hpf) ||
      !pn_int(env, argv[5], 0, 3, "APM_ERR_BAD_OPTION", "nsLevel", &ns_level) ||
      !pn_int(env, argv[6], 0, 2, "APM_ERR_BAD_OPTION", "aecLevel", &aec_level) ||
      !pn_int(env, argv[7], 20, 1000, "APM_ERR_BAD_OPTION", "tailMs", &tail_ms) ||
      !pn_int(env, argv[8], 0, 500, "APM_ERR_BAD_OPTION", "delayMs", &delay_ms) ||
      !pn_bool(env, argv[9], "APM_ERR_BAD_OPTION", "extendedFilter", &c->extended_filter))
    return false;
  c->speex = strcmp(engine, "speex") == 0;
  c->rate = kRate;
  c->ns_level = (int)ns_level;
  c->aec_level = (int)aec_level;
  c->tail_ms = (int)tail_ms;
  *on = c->aec || c->ns || c->agc;
  *delay = (int)delay_ms;
  return true;
}

void store_config(PnApmPipe *p, const PnApmConfig &c, bool on, int delay) {
  std::lock_guard<std::mutex> lock(p->cfg_mu);
  p->want = c;
  p->want_on = on;
  p->want_delay_ms = delay;
  p->gen.fetch_add(1, std::memory_order_release);
}

// new NativeAudioPipe(engine, aec, ns, agc, highPass, nsLevel, aecLevel, tailMs, delayMs,
//                     extendedFilter, roomIr: Float32Array | null, roomDelayMs, roomGain)
napi_value pipe_new(napi_env env, napi_callback_info info) {
  napi_value argv[13], self;
  if (!pn_args(env, info, 13, argv, nullptr, &self)) return nullptr;
  PnApmConfig c;
  bool on;
  int delay;
  if (!read_config(env, argv, &c, &on, &delay)) return nullptr;
  std::unique_ptr<PnApmPipe> p(new PnApmPipe());
  napi_valuetype t;
  napi_typeof(env, argv[10], &t);
  if (t != napi_null && t != napi_undefined) {
    void *data;
    size_t n;
    int64_t room_delay;
    double gain;
    if (!pn_typed(env, argv[10], napi_float32_array, "APM_ERR_BAD_OPTION", "room.ir", &data, &n))
      return nullptr;
    if (n == 0 || n > (size_t)kMaxIr) {
      pn_throw(env, "APM_ERR_BAD_OPTION", "room.ir must hold 1..%d taps, got %zu", kMaxIr, n);
      return nullptr;
    }
    if (!pn_int(env, argv[11], 0, 500, "APM_ERR_BAD_OPTION", "room.delayMs", &room_delay))
      return nullptr;
    if (napi_get_value_double(env, argv[12], &gain) != napi_ok || !(gain >= 0 && gain <= 4)) {
      pn_throw(env, "APM_ERR_BAD_OPTION", "room.gain must be a number in 0..4");
      return nullptr;
    }
    p->ir = new float[n];
    memcpy(p->ir, data, n * sizeof(float));
    p->ir_len = (int)n;
    p->room_delay = (int)room_delay * kRate / 1000;
    p->room_gain = (float)gain;
  }
  store_config(p.get(), c, on, delay);
  if (napi_wrap(env, self, p.get(), finalize, nullptr, nullptr) != napi_ok) {
    pn_throw(env, "APM_ERR_INTERNAL", "napi_wrap failed");
    return nullptr;
  }
  p.release();
  return self;
}

// set(engine, aec, ns, agc, highPass, nsLevel, aecLevel, tailMs, delayMs, extendedFilter):
// applied by the capture thread before its next frame.
napi_value pipe_set(napi_env env, napi_callback_info info) {
  napi_value argv[10], self;
  if (!pn_args(env, info, 10, argv, nullptr, &self)) return nullptr;
  PnApmPipe *p = self_of(env, self, true);
  PnApmConfig c;
  bool on;
  int delay;
  if (!p || !read_config(env, argv, &c, &on, &delay)) return nullptr;
  store_config(p, c, on, delay);
  return nullptr;
}

// attach(sender: NativeRtpSender | null, receiver: NativeRtpReceiver | null): the sender's
// capture goes through this pipe; the receiver's playback feeds its reference. Once each.
napi_value pipe_attach(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, nullptr, &self)) return nullptr;
  PnApmPipe *p = self_of(env, self, true);
  if (!p) return nullptr;
  napi_valuetype ts, tr;
  napi_typeof(env, argv[0], &ts);
  napi_typeof(env, argv[1], &tr);
  PnSender *s = nullptr;
  PnReceiver *r = nullptr;
  if (ts != napi_null && ts != napi_undefined && !(s = pn_sender_from_js(env, argv[0])))
    return nullptr;
  if (tr != napi_null && tr != napi_undefined && !(r = pn_receiver_from_js(env, argv[1])))
    return nullptr;
  if ((s && !pn_sender_set_apm(s, p)) || (r && !pn_receiver_set_apm(r, p))) {
    pn_throw(env, "APM_ERR_STATE", "the sender or receiver already has an audio pipe");
    return nullptr;
  }
  return nullptr;
}

napi_value num(napi_env env, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  return x;
}

napi_value pipe_stats(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, nullptr, nullptr, &self)) return nullptr;
  PnApmPipe *p = self_of(env, self, false);
  if (!p) return nullptr;
  napi_value o;
  napi_create_object(env, &o);
  int eng = p->engine_on.load();
  pn_set_str(env, o, "engine", eng == 0 ? "off" : eng == 1 ? "webrtc" : "speex");
  pn_set_num(env, o, "frames", (double)p->frames.load());
  pn_set_num(env, o, "bypassedFrames", (double)p->bypassed.load());
  pn_set_num(env, o, "referenceMissingFrames", (double)p->ref_missing.load());
  pn_set_num(env, o, "farSamples", (double)p->far_samples.load());
  pn_set_num(env, o, "farResyncs", (double)p->far_resyncs.load());
  pn_set_num(env, o, "rebuilds", (double)p->rebuilds.load());
  pn_set_num(env, o, "failures", (double)p->failures.load());
  pn_set_num(env, o, "errors", (double)p->errors.load());
  napi_set_named_property(env, o, "measuredErleDb", num(env, p->erle_db.load()));
  napi_set_named_property(env, o, "libraryErleDb", num(env, p->lib_erle_db.load()));
  napi_set_named_property(env, o, "libraryDelayMs", num(env, p->lib_delay_ms.load()));
  pn_set_bool(env, o, "streamHasEcho", p->has_echo.load());
  pn_set_bool(env, o, "converged", p->converged.load());
  return o;
}

// close(): no more processing (the threads keep their references until they let go). Idempotent.
napi_value pipe_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, nullptr, nullptr, &self)) return nullptr;
  PnApmPipe *p = self_of(env, self, false);
  if (!p) return nullptr;
  p->closed.store(true);
  return nullptr;
}

}  // namespace

extern "C" napi_value pn_apm_pipe_init(napi_env env, napi_value exports) {
  napi_property_descriptor m[] = {
      {"set", nullptr, pipe_set, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attach", nullptr, pipe_attach, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, pipe_stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, pipe_close, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  napi_define_class(env, "NativeAudioPipe", NAPI_AUTO_LENGTH, pipe_new, nullptr,
                    sizeof m / sizeof m[0], m, &cls);
  napi_set_named_property(env, exports, "NativeAudioPipe", cls);
  return exports;
}
