// The audio processing engine of apm_engine.h: webrtc AudioProcessing 0.3 or speexdsp.
#include "apm_engine.h"

#include <cmath>
#include <cstring>

#include <webrtc/common.h>
#include <webrtc/modules/audio_processing/include/audio_processing.h>

extern "C" {
#include "speex_ec.h"
}

namespace {
const int kSpeexNsDb[4] = {6, 12, 18, 25};
}

PnApmEngine *PnApmEngine::Create(const PnApmConfig &c) {
  PnApmEngine *e = new PnApmEngine();
  e->c_ = c;
  if (c.speex) {
    e->spx_ = pn_spx_new(c.rate, c.rate / 100, c.rate * c.tail_ms / 1000, c.aec, c.ns, c.agc,
                         kSpeexNsDb[c.ns_level & 3]);
    if (!e->spx_) {
      delete e;
      return nullptr;
    }
    return e;
  }
  webrtc::Config config;
  config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(c.extended_filter));
  config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
  e->webrtc_ = webrtc::AudioProcessing::Create(config);
  e->fbuf_ = new float[c.rate / 100];
  if (!e->webrtc_ || !e->Apply(c)) {
    delete e;
    return nullptr;
  }
  return e;
}

PnApmEngine::~PnApmEngine() {
  delete webrtc_;
  pn_spx_free(spx_);
  delete[] fbuf_;
}

// webrtc: switches the components and sets their levels.
bool PnApmEngine::Apply(const PnApmConfig &c) {
  webrtc::AudioProcessing *w = webrtc_;
  int err = 0;
  err |= w->high_pass_filter()->Enable(c.hpf);
  err |= w->echo_cancellation()->Enable(c.aec);
  if (c.aec) {
    err |= w->echo_cancellation()->set_suppression_level(
        static_cast<webrtc::EchoCancellation::SuppressionLevel>(c.aec_level));
    err |= w->echo_cancellation()->enable_metrics(true);
    err |= w->echo_cancellation()->enable_delay_logging(true);
  }
  err |= w->noise_suppression()->Enable(c.ns);
  if (c.ns)
    err |= w->noise_suppression()->set_level(
        static_cast<webrtc::NoiseSuppression::Level>(c.ns_level));
  err |= w->gain_control()->Enable(c.agc);
  if (c.agc) {
    err |= w->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
    err |= w->gain_control()->set_target_level_dbfs(3);
    err |= w->gain_control()->set_compression_gain_db(9);
    err |= w->gain_control()->enable_limiter(true);
  }
  if (err != 0) return false;
  c_ = c;
  return true;
}

bool PnApmEngine::Reconfigure(const PnApmConfig &c) {
  if (c.speex || c_.speex || c.rate != c_.rate || c.extended_filter != c_.extended_filter) {
    return c.speex == c_.speex && c.rate == c_.rate && c.aec == c_.aec && c.ns == c_.ns &&
           c.extended_filter == c_.extended_filter &&
           c.agc == c_.agc && c.ns_level == c_.ns_level && c.tail_ms == c_.tail_ms;
  }
  return Apply(c);
}

int PnApmEngine::MaxDelayMs() const {
  return spx_ ? pn_spx_max_delay(spx_) * 1000 / c_.rate : 500;
}

void PnApmEngine::Reverse(const int16_t *far) {
  if (spx_) {
    pn_spx_reverse(spx_, far);
    return;
  }
  const int n = frame();
  for (int i = 0; i < n; i++) fbuf_[i] = far[i] / 32768.0f;
  float *ch[1] = {fbuf_};
  webrtc::StreamConfig sc(c_.rate, 1);
  int r = webrtc_->ProcessReverseStream(ch, sc, sc, ch);
  if (r != 0) {
    errors++;
    last_error = r;
  }
}

void PnApmEngine::Process(int16_t *near) {
  const int n = frame();
  if (spx_) {
    pn_spx_process(spx_, near, delay_ms_ * c_.rate / 1000);
    return;
  }
  for (int i = 0; i < n; i++) fbuf_[i] = near[i] / 32768.0f;
  float *ch[1] = {fbuf_};
  webrtc::StreamConfig sc(c_.rate, 1);
  if (c_.aec) webrtc_->set_stream_delay_ms(delay_ms_);
  int r = webrtc_->ProcessStream(ch, sc, sc, ch);
  if (r != 0) {
    errors++;
    last_error = r;
  }
  for (int i = 0; i < n; i++) {
    float v = fbuf_[i] * 32768.0f;
    near[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : lrintf(v));
  }
}

void PnApmEngine::Echo(PnApmEcho *out) const {
  out->erle_db = out->erl_db = out->delay_ms = out->fraction_poor = NAN;
  out->has_echo = false;
  if (spx_ || !c_.aec) return;
  webrtc::EchoCancellation *ec = webrtc_->echo_cancellation();
  webrtc::EchoCancellation::Metrics m;
  if (ec->GetMetrics(&m) == 0) {
    // -100 is the library's "no value yet".
    if (m.echo_return_loss_enhancement.average > -100)
      out->erle_db = m.echo_return_loss_enhancement.average;
    if (m.echo_return_loss.average > -100) out->erl_db = m.echo_return_loss.average;
  }
  int median = 0, std_ = 0;
  float fp = 0;
  if (ec->GetDelayMetrics(&median, &std_, &fp) == 0) {
    out->delay_ms = median;
    out->fraction_poor = fp;
  }
  out->has_echo = ec->stream_has_echo();
}
