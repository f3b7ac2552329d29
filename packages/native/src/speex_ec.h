// speexdsp's echo canceller (MDF) and preprocessor (noise suppression, AGC, residual echo
// suppression) for 10 ms mono frames: the baseline engine of src/apm.cc.
#ifndef PARLOIR_SPEEX_EC_H
#define PARLOIR_SPEEX_EC_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PnSpeexEc PnSpeexEc;

// `frame` samples per call at `rate` Hz; the adaptive filter covers `tail` samples. The far
// signal is kept in a 2 s ring so process() can read it `delay` samples back. NULL on failure.
PnSpeexEc *pn_spx_new(int rate, int frame, int tail, bool aec, bool ns, bool agc, int ns_db);
// Appends one far (played) frame to the ring.
void pn_spx_reverse(PnSpeexEc *s, const int16_t *far);
// Processes one capture frame in place, against the far frame that was pushed `delay` samples
// before the latest one (0 = the frame pushed last). delay must be < the ring's length - frame.
void pn_spx_process(PnSpeexEc *s, int16_t *near, int delay);
// Largest delay, samples, that process() accepts.
int pn_spx_max_delay(const PnSpeexEc *s);
void pn_spx_free(PnSpeexEc *s);

#ifdef __cplusplus
}
#endif
#endif
