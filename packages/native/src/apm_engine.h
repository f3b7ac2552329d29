// One audio processing engine for 10 ms mono frames: Debian's libwebrtc-audio-processing (the
// WebRTC AudioProcessing module, 0.3 API: AEC with extended filter and delay-agnostic mode, noise
// suppression, adaptive digital AGC, high-pass filter) or speexdsp (src/speex_ec.c) as the
// baseline. Used by the offline NativeApm (apm.cc, `parloir audio process`, bench:aec) and by a
// call's capture thread (apm_pipe.cc): the same code on both paths. C++ only. Not thread-safe:
// one thread calls it.
#ifndef PARLOIR_APM_ENGINE_H
#define PARLOIR_APM_ENGINE_H

#include <stdint.h>

namespace webrtc {
class AudioProcessing;
}
struct PnSpeexEc;

struct PnApmConfig {
  bool speex = false;
  int rate = 48000;  // Hz: 8000, 16000, 32000 or 48000
  bool aec = true;
  bool ns = true;
  bool agc = false;
  bool hpf = true;    // webrtc only
  int ns_level = 2;   // 0 low … 3 very high (speex: 6, 12, 18, 25 dB)
  int aec_level = 0;  // webrtc: 0 low, 1 moderate, 2 high suppression of the residual echo
  int tail_ms = 200;  // speex: adaptive filter length, 20..1000 ms
  // webrtc: the AEC's extended filter (longer echo tails, about 15 % of the processing's CPU).
  bool extended_filter = true;
};

// The library's view of the echo (webrtc; NaN/false for speex or with the AEC off).
struct PnApmEcho {
  double erle_db, erl_db, delay_ms, fraction_poor;
  bool has_echo;
};

class PnApmEngine {
 public:
  // nullptr if the library refused the configuration or allocation failed.
  static PnApmEngine *Create(const PnApmConfig &c);
  ~PnApmEngine();
  // Applies `c` to this engine in place when it can (webrtc: component switches and levels, same
  // rate); false if it needs a new engine (another engine or rate, any speex change).
  bool Reconfigure(const PnApmConfig &c);
  // The frame being played (the echo reference), frame() samples.
  void Reverse(const int16_t *far);
  // One capture frame, processed in place.
  void Process(int16_t *near);
  // Bulk delay from the far frame fed to its echo in the capture, ms (0..MaxDelayMs()).
  void SetDelayMs(int ms) { delay_ms_ = ms; }
  int delay_ms() const { return delay_ms_; }
  int MaxDelayMs() const;
  void Echo(PnApmEcho *out) const;
  const PnApmConfig &config() const { return c_; }
  int frame() const { return c_.rate / 100; }
  // Frames the library refused and its last error code.
  int64_t errors = 0;
  int last_error = 0;

 private:
  PnApmEngine() = default;
  bool Apply(const PnApmConfig &c);
  PnApmConfig c_;
  int delay_ms_ = 0;
  webrtc::AudioProcessing *webrtc_ = nullptr;
  PnSpeexEc *spx_ = nullptr;
  float *fbuf_ = nullptr;
};

#endif
