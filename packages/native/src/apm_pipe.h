// A call's audio processing in the C pipeline (apm_pipe.cc): echo cancellation, noise
// suppression and AGC on the capture thread, against the far-end reference the playback thread
// writes into a lock-free ring. Callable from C (sender.c, receiver.c).
#ifndef PARLOIR_APM_PIPE_H
#define PARLOIR_APM_PIPE_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PnApmPipe PnApmPipe;

void pn_apm_pipe_ref(PnApmPipe *p);
void pn_apm_pipe_unref(PnApmPipe *p);
// Playback thread: `n` mono 48 kHz samples, as written to the device (after volume), whose first
// sample plays at CLOCK_MONOTONIC `play_at_ns`. Lock-free; one playback thread at a time.
void pn_apm_pipe_far(PnApmPipe *p, const int16_t *pcm, size_t n, int64_t play_at_ns);
// Capture thread: one frame of `n` samples whose last sample was captured at `t_end_ns`,
// processed in place (10 ms multiples; other frame sizes go through untouched and are counted).
void pn_apm_pipe_capture(PnApmPipe *p, int16_t *pcm, size_t n, int64_t t_end_ns);
// Paced capture (`wav:`/`null`), before it feeds the frame: its capture time is `t_end_ns` on
// the device's clock (not the thread's wakeup, which a loaded machine delays), and with a
// simulated room (tests) the room's echo of what the playback played is added to `pcm`, as a
// laptop's microphone hears its speakers.
void pn_apm_pipe_acoustic(PnApmPipe *p, int16_t *pcm, size_t n, int64_t t_end_ns);

napi_value pn_apm_pipe_init(napi_env env, napi_value exports);

#ifdef __cplusplus
}
#endif
#endif
