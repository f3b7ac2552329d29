// The native RTP sender of sender.c, as the ALSA capture thread of pcm.c feeds it.
#ifndef PARLOIR_SENDER_H
#define PARLOIR_SENDER_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PnSender PnSender;

// The sender behind a NativeRtpSender object (open), or NULL with a pending exception.
PnSender *pn_sender_from_js(napi_env env, napi_value v);
// Reference counting: a capture stream that feeds a sender holds a reference.
void pn_sender_ref(PnSender *s);
void pn_sender_unref(PnSender *s);
// Feeds `n` mono 48 kHz samples captured just now; sends every frame completed. Thread-safe;
// does nothing once the sender is closed.
void pn_sender_feed(PnSender *s, const int16_t *pcm, size_t n);
// Runs the capture through `p` (apm_pipe.h) from the next frame on; holds a reference. Once:
// false if the sender already has one.
struct PnApmPipe;
bool pn_sender_set_apm(PnSender *s, struct PnApmPipe *p);

#endif
