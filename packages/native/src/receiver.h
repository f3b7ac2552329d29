// The native RTP receiver (receiver.c), as pcm.c's ALSA playback thread uses it as its source.
#ifndef PARLOIR_RECEIVER_H
#define PARLOIR_RECEIVER_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PnReceiver PnReceiver;

// The receiver wrapped by a JavaScript NativeRtpReceiver (throws and returns NULL otherwise, or
// if it is closed).
PnReceiver *pn_receiver_from_js(napi_env env, napi_value v);
void pn_receiver_ref(PnReceiver *r);
void pn_receiver_unref(PnReceiver *r);

// Fills `out` with `n` samples (48 kHz mono) of the call's audio that will play from
// CLOCK_MONOTONIC `play_at_ns` on, pulled from the jitter buffer (silence once closed). For the
// playback device's thread.
void pn_receiver_pull(PnReceiver *r, int16_t *out, size_t n, int64_t play_at_ns);
// Hands what plays (after volume) to `p` as the echo reference (apm_pipe.h); holds a reference.
// Once: false if the receiver already has one.
struct PnApmPipe;
bool pn_receiver_set_apm(PnReceiver *r, struct PnApmPipe *p);

#endif
