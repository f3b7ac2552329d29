// ALSA PCM streams. Each open stream owns one I/O thread that does the blocking
// snd_pcm_readi/snd_pcm_writei; between that thread and JavaScript sits a lock-free
// single-producer/single-consumer ring of interleaved S16_LE frames (C11 atomics). Capture
// frames reach JavaScript through a napi_threadsafe_function called in non-blocking mode, so
// the event loop never waits on the sound card; playback write() only copies into the ring.
//
// Only the I/O thread touches the snd_pcm_t while it runs (alsa-lib handles are not
// thread-safe); JavaScript reads what the thread publishes in atomics.
#define _GNU_SOURCE
#include <alsa/asoundlib.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "receiver.h"
#include "sender.h"

#define PCM_MAGIC 0x50434d53u  // "PCMS"

enum { CLOSING_NO = 0, CLOSING_NOW = 1, CLOSING_DRAIN = 2 };

typedef struct Pcm {
  uint32_t magic;
  int refs;  // wrapper object + threadsafe function; freed when both are finalized
  napi_env env;
  snd_pcm_t *pcm;
  bool capture;
  unsigned rate;
  unsigned channels;
  char name[256];

  // Ring: capacity is a power of two in frames; positions are monotonic frame counters.
  int16_t *ring;
  uint64_t ring_frames;
  _Atomic uint64_t wpos;
  _Atomic uint64_t rpos;

  _Atomic uint32_t js_frames;  // capture: frames per frame handed to JavaScript
  _Atomic int closing;
  _Atomic int notify_pending;
  _Atomic bool fill_silence;

  // Published by the I/O thread.
  _Atomic uint64_t xruns;
  _Atomic uint64_t device_frames;   // frames read from / written to the device
  _Atomic uint64_t silence_frames;  // playback: silence written because the ring ran dry
  _Atomic uint64_t dropped_frames;  // playback: frames refused by write() because the ring was full
  _Atomic int64_t delay_frames;     // last snd_pcm_delay()
  _Atomic int64_t start_ns;         // CLOCK_MONOTONIC of device frame 0, or -1
  _Atomic int fatal;                // negative errno that stopped the thread, 0 if none
  _Atomic uint32_t period;
  _Atomic uint32_t buffer;
  bool realtime;

  // Reconfiguration handshake (JavaScript asks, the thread applies).
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool req_pending;
  snd_pcm_uframes_t req_period, req_buffer;
  int req_result;

  // Capture: a native RTP sender fed by the I/O thread instead of the ring (setSink).
  // Playback: a native RTP receiver the I/O thread pulls from instead of the ring (setSource).
  pthread_mutex_t sink_mu;
  PnSender *sink;
  PnReceiver *source;

  pthread_t thread;
  bool thread_started;
  int16_t *tmp;  // one period, owned by the thread
  snd_pcm_uframes_t tmp_frames;
  int64_t pace_ns;  // playback on a device that keeps no time: when the next period is due, or 0

  napi_threadsafe_function tsfn;
  napi_ref callback;
  bool closed;  // JavaScript side
  bool hook;
  bool error_reported;
  bool device_stopped;  // thread joined and PCM closed (by close() or at exit)
  struct Pcm *next;     // in the list of open streams closed at exit
} Pcm;

// Open streams, so that exit() closes them even when Node skips environment cleanup (as it
// does on process.exit()): the file plugin, for one, only flushes its output on snd_pcm_close.
static pthread_mutex_t g_open_mu = PTHREAD_MUTEX_INITIALIZER;
static Pcm *g_open = NULL;
static bool g_atexit = false;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

// Paces playback on a device that keeps no time of its own (the `null` PCM, the file plugin over
// it) after it swallowed `n` frames: sleeps until they are due on an absolute schedule. Sleeping
// n/rate after each write ran slow by the loop's own time (1-2 % measured on the 2-core VM, so
// the jitter buffer accelerated through a whole call); the schedule restarts after a stall of
// more than 100 ms instead of playing the backlog in a burst.
static void pace_playback(Pcm *s, snd_pcm_uframes_t n) {
  int64_t now = mono_ns();
  if (s->pace_ns == 0 || s->pace_ns < now - 100000000LL) s->pace_ns = now;
  s->pace_ns += (int64_t)n * 1000000000LL / s->rate;
  if (s->pace_ns > now) sleep_us((long)((s->pace_ns - now) / 1000));
}

static void quiet_alsa(const char *file, int line, const char *fn, int err, const char *fmt, ...) {
  // alsa-lib prints to stderr by default; errors reach JavaScript as typed errors instead.
}

static const char *alsa_code(int err) {
  switch (-err) {
    case EBUSY:
    case EAGAIN: return "ALSA_ERR_BUSY";
    case ENOENT:
    case ENODEV:
    case ENXIO: return "ALSA_ERR_NO_DEVICE";
    case EINVAL: return "ALSA_ERR_UNSUPPORTED";
    case EPERM:
    case EACCES: return "ALSA_ERR_PERMISSION";
    default: return "ALSA_ERR_IO";
  }
}

// Negotiates S16_LE interleaved at exactly `rate` and `channels`; period and buffer are requested
// and rounded by ALSA, the results written back. `what` names the step that failed.
static int setup_params(snd_pcm_t *pcm, bool capture, unsigned rate, unsigned channels,
                        snd_pcm_uframes_t *period, snd_pcm_uframes_t *buffer, const char **what) {
  snd_pcm_hw_params_t *hw;
  snd_pcm_sw_params_t *sw;
  snd_pcm_hw_params_alloca(&hw);
  snd_pcm_sw_params_alloca(&sw);
  int rc;
  if ((rc = snd_pcm_hw_params_any(pcm, hw)) < 0) return *what = "no hardware configuration", rc;
  if ((rc = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0)
    return *what = "interleaved access not supported", rc;
  if ((rc = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0)
    return *what = "format S16_LE not supported", rc;
  if ((rc = snd_pcm_hw_params_set_channels(pcm, hw, channels)) < 0)
    return *what = "channel count not supported", rc;
  if ((rc = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0)) < 0)
    return *what = "sample rate not supported", rc;
  snd_pcm_uframes_t p = *period, b = *buffer;
  int dir = 0;
  if ((rc = snd_pcm_hw_params_set_period_size_near(pcm, hw, &p, &dir)) < 0)
    return *what = "period size not supported", rc;
  if (b < 2 * p) b = 2 * p;
  if ((rc = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &b)) < 0)
    return *what = "buffer size not supported", rc;
  if ((rc = snd_pcm_hw_params(pcm, hw)) < 0) return *what = "hardware parameters refused", rc;
  snd_pcm_hw_params_get_period_size(hw, &p, &dir);
  snd_pcm_hw_params_get_buffer_size(hw, &b);
  if ((rc = snd_pcm_sw_params_current(pcm, sw)) < 0) return *what = "software parameters", rc;
  snd_pcm_sw_params_set_avail_min(pcm, sw, p);
  // Capture starts on the first read; playback once one period is queued.
  snd_pcm_sw_params_set_start_threshold(pcm, sw, capture ? 1 : p);
  if ((rc = snd_pcm_sw_params(pcm, sw)) < 0) return *what = "software parameters refused", rc;
  *period = p;
  *buffer = b;
  return 0;
}

static void notify_js(Pcm *s) {
  if (!atomic_exchange(&s->notify_pending, 1))
    napi_call_threadsafe_function(s->tsfn, NULL, napi_tsfn_nonblocking);
}

static bool ensure_tmp(Pcm *s, snd_pcm_uframes_t frames) {
  if (s->tmp_frames >= frames) return true;
  int16_t *t = realloc(s->tmp, frames * s->channels * sizeof(int16_t));
  if (!t) return false;
  s->tmp = t;
  s->tmp_frames = frames;
  return true;
}

// Applies a pending reconfiguration request, if any (I/O thread only).
static void apply_request(Pcm *s) {
  pthread_mutex_lock(&s->mu);
  if (s->req_pending) {
    snd_pcm_drop(s->pcm);
    snd_pcm_hw_free(s->pcm);
    snd_pcm_uframes_t p = s->req_period, b = s->req_buffer;
    const char *what = "";
    int rc = setup_params(s->pcm, s->capture, s->rate, s->channels, &p, &b, &what);
    if (rc < 0) {
      // Put the previous, known-good configuration back.
      snd_pcm_uframes_t op = atomic_load(&s->period), ob = atomic_load(&s->buffer);
      setup_params(s->pcm, s->capture, s->rate, s->channels, &op, &ob, &what);
    } else if (!ensure_tmp(s, p)) {
      rc = -ENOMEM;
    } else {
      atomic_store(&s->period, (uint32_t)p);
      atomic_store(&s->buffer, (uint32_t)b);
    }
    snd_pcm_prepare(s->pcm);
    if (s->capture) snd_pcm_start(s->pcm);
    s->req_result = rc;
    s->req_pending = false;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
}

// Handles an error from wait/readi/writei. Returns false if the stream cannot continue.
static bool recover(Pcm *s, int err) {
  if (err == -EAGAIN || err == -EINTR) return true;
  if (err == -EPIPE || err == -ESTRPIPE) atomic_fetch_add(&s->xruns, 1);
  int rc = snd_pcm_recover(s->pcm, err, 1);
  if (rc < 0) {
    atomic_store(&s->fatal, rc);
    return false;
  }
  if (s->capture) snd_pcm_start(s->pcm);
  return true;
}

static void update_delay(Pcm *s) {
  snd_pcm_sframes_t d = 0;
  if (snd_pcm_delay(s->pcm, &d) == 0) atomic_store(&s->delay_frames, (int64_t)d);
}

static void capture_loop(Pcm *s) {
  snd_pcm_start(s->pcm);
  while (atomic_load(&s->closing) == CLOSING_NO) {
    apply_request(s);
    snd_pcm_uframes_t period = atomic_load(&s->period);
    uint64_t w = atomic_load_explicit(&s->wpos, memory_order_relaxed);
    uint64_t r = atomic_load_explicit(&s->rpos, memory_order_acquire);
    if (s->ring_frames - (w - r) < period) {
      // JavaScript is behind: wait instead of dropping. On a real card a long stall becomes an
      // ALSA overrun, which is recovered and counted like any other.
      notify_js(s);
      sleep_us(1000);
      continue;
    }
    int rc = snd_pcm_wait(s->pcm, 100);
    if (rc == 0) continue;
    if (rc < 0) {
      if (!recover(s, rc)) break;
      continue;
    }
    snd_pcm_sframes_t n = snd_pcm_readi(s->pcm, s->tmp, period);
    if (n < 0) {
      if (!recover(s, (int)n)) break;
      continue;
    }
    if (n == 0) {  // the file plugin returns 0 at the end of its infile
      sleep_us(1000);
      continue;
    }
    update_delay(s);
    if (atomic_load(&s->start_ns) < 0) {
      int64_t lag = (int64_t)(n + atomic_load(&s->delay_frames)) * 1000000000LL / s->rate;
      atomic_store(&s->start_ns, mono_ns() - lag);
    }
    // A native sender takes the audio straight from this thread: no ring, no JavaScript.
    pthread_mutex_lock(&s->sink_mu);
    PnSender *sink = s->sink;
    if (sink != NULL) pn_sender_feed(sink, s->tmp, (size_t)n);
    pthread_mutex_unlock(&s->sink_mu);
    if (sink != NULL) {
      atomic_fetch_add(&s->device_frames, (uint64_t)n);
      continue;
    }
    uint64_t mask = s->ring_frames - 1;
    for (snd_pcm_sframes_t done = 0; done < n;) {
      uint64_t at = (w + (uint64_t)done) & mask;
      uint64_t chunk = s->ring_frames - at;
      if (chunk > (uint64_t)(n - done)) chunk = (uint64_t)(n - done);
      memcpy(s->ring + at * s->channels, s->tmp + (size_t)done * s->channels,
             chunk * s->channels * sizeof(int16_t));
      done += (snd_pcm_sframes_t)chunk;
    }
    atomic_store_explicit(&s->wpos, w + (uint64_t)n, memory_order_release);
    atomic_fetch_add(&s->device_frames, (uint64_t)n);
    if (w + (uint64_t)n - r >= atomic_load(&s->js_frames)) notify_js(s);
  }
}

// Copies `n` frames from the ring at position `r` into dst.
static void ring_read(Pcm *s, uint64_t r, int16_t *dst, uint64_t n) {
  uint64_t mask = s->ring_frames - 1;
  for (uint64_t done = 0; done < n;) {
    uint64_t at = (r + done) & mask;
    uint64_t chunk = s->ring_frames - at;
    if (chunk > n - done) chunk = n - done;
    memcpy(dst + done * s->channels, s->ring + at * s->channels,
           chunk * s->channels * sizeof(int16_t));
    done += chunk;
  }
}

// Records when device frame 0 played, once the device runs.
static void note_start(Pcm *s) {
  if (atomic_load(&s->start_ns) < 0 && snd_pcm_state(s->pcm) == SND_PCM_STATE_RUNNING) {
    uint64_t played = atomic_load(&s->device_frames) - (uint64_t)atomic_load(&s->delay_frames);
    atomic_store(&s->start_ns, mono_ns() - (int64_t)(played * 1000000000ULL / s->rate));
  }
}

// One period pulled from a native receiver (setSource) when the device queue is below its
// target (two periods, at least 20 ms: what the JavaScript playout kept). Returns false if the
// stream cannot continue. Called with sink_mu held.
static bool play_from_source(Pcm *s, PnReceiver *src, snd_pcm_uframes_t period) {
  update_delay(s);
  int64_t queued = atomic_load(&s->delay_frames);
  int64_t target = 2 * (int64_t)period < (int64_t)s->rate / 50 ? (int64_t)s->rate / 50
                                                                : 2 * (int64_t)period;
  if (snd_pcm_state(s->pcm) == SND_PCM_STATE_RUNNING && queued >= target) {
    long us = (long)((queued - target) * 1000000 / s->rate) + 500;
    pthread_mutex_unlock(&s->sink_mu);
    sleep_us(us < 500 ? 500 : us > 10000 ? 10000 : us);
    pthread_mutex_lock(&s->sink_mu);
    return true;
  }
  if (queued < 0) queued = 0;
  pn_receiver_pull(src, s->tmp, period, mono_ns() + queued * 1000000000LL / s->rate);
  snd_pcm_sframes_t n = snd_pcm_writei(s->pcm, s->tmp, period);
  if (n < 0) return recover(s, (int)n);
  atomic_fetch_add(&s->device_frames, (uint64_t)n);
  update_delay(s);
  if (atomic_load(&s->delay_frames) <= 0) {
    // A device that keeps no time of its own (the `null` PCM, the file plugin over it): pace.
    pace_playback(s, (snd_pcm_uframes_t)n);
  }
  note_start(s);
  return true;
}

static void playback_loop(Pcm *s) {
  for (;;) {
    int closing = atomic_load(&s->closing);
    if (closing == CLOSING_NOW) break;
    apply_request(s);
    snd_pcm_uframes_t period = atomic_load(&s->period);
    int rc = snd_pcm_wait(s->pcm, 100);
    if (rc == 0) continue;
    if (rc < 0) {
      if (!recover(s, rc)) break;
      continue;
    }
    pthread_mutex_lock(&s->sink_mu);
    PnReceiver *src = s->source;
    bool ok = true;
    if (src != NULL && closing == CLOSING_NO) ok = play_from_source(s, src, period);
    pthread_mutex_unlock(&s->sink_mu);
    if (!ok) break;
    if (src != NULL && closing == CLOSING_NO) continue;
    uint64_t r = atomic_load_explicit(&s->rpos, memory_order_relaxed);
    uint64_t fill = atomic_load_explicit(&s->wpos, memory_order_acquire) - r;
    uint64_t take = fill < period ? fill : period;
    snd_pcm_uframes_t total = (snd_pcm_uframes_t)take;
    if (closing == CLOSING_DRAIN) {
      if (fill == 0) {
        snd_pcm_drain(s->pcm);
        break;
      }
    } else if (fill < period) {
      if (!atomic_load(&s->fill_silence)) {
        if (fill == 0) {
          sleep_us(1000);
          continue;
        }
      } else {
        // Pad with silence only when the device is about to run dry; while more than one
        // period is still queued, JavaScript has time to catch up.
        update_delay(s);
        int64_t queued = atomic_load(&s->delay_frames);
        snd_pcm_state_t st = snd_pcm_state(s->pcm);
        if (st == SND_PCM_STATE_RUNNING && queued > (int64_t)period) {
          long us = (long)((queued - (int64_t)period) * 1000000 / s->rate);
          sleep_us(us < 1000 ? 1000 : us > 10000 ? 10000 : us);
          continue;
        }
        total = period;
      }
    }
    ring_read(s, r, s->tmp, take);
    if (total > take) {
      memset(s->tmp + take * s->channels, 0, (total - take) * s->channels * sizeof(int16_t));
    }
    snd_pcm_sframes_t n = snd_pcm_writei(s->pcm, s->tmp, total);
    if (n < 0) {
      if (!recover(s, (int)n)) break;
      continue;
    }
    // A short write keeps its head; silence padding is counted only for what reached the device.
    uint64_t data = (uint64_t)n < take ? (uint64_t)n : take;
    atomic_store_explicit(&s->rpos, r + data, memory_order_release);
    if ((uint64_t)n > take) atomic_fetch_add(&s->silence_frames, (uint64_t)n - take);
    atomic_fetch_add(&s->device_frames, (uint64_t)n);
    update_delay(s);
    if (take == 0 && atomic_load(&s->delay_frames) <= 0) {
      // A device that swallowed a whole period of silence at once (the `null` PCM, the file
      // plugin over it) keeps no time of its own: pace the silence so the thread does not spin.
      pace_playback(s, (snd_pcm_uframes_t)n);
    }
    note_start(s);
  }
}

static void *io_thread(void *arg) {
  Pcm *s = arg;
  if (s->capture) capture_loop(s);
  else playback_loop(s);
  if (atomic_load(&s->fatal) != 0) notify_js(s);
  return NULL;
}

static void env_cleanup(void *arg);

// Joins the thread and closes the PCM; no N-API calls, so it can run from atexit().
static void stop_device(Pcm *s, bool drain) {
  if (s->device_stopped) return;
  s->device_stopped = true;
  atomic_store(&s->closing, drain && !s->capture ? CLOSING_DRAIN : CLOSING_NOW);
  if (s->thread_started) pthread_join(s->thread, NULL);
  s->thread_started = false;
  if (s->pcm) {
    if (!drain) snd_pcm_drop(s->pcm);
    snd_pcm_close(s->pcm);
    s->pcm = NULL;
  }
}

static void close_all_at_exit(void) {
  pthread_mutex_lock(&g_open_mu);
  for (Pcm *s = g_open; s != NULL; s = s->next) stop_device(s, false);
  pthread_mutex_unlock(&g_open_mu);
}

static void track_open(Pcm *s) {
  pthread_mutex_lock(&g_open_mu);
  if (!g_atexit) g_atexit = atexit(close_all_at_exit) == 0;
  s->next = g_open;
  g_open = s;
  pthread_mutex_unlock(&g_open_mu);
}

static void untrack(Pcm *s) {
  pthread_mutex_lock(&g_open_mu);
  for (Pcm **p = &g_open; *p != NULL; p = &(*p)->next) {
    if (*p == s) {
      *p = s->next;
      break;
    }
  }
  pthread_mutex_unlock(&g_open_mu);
}

// Stops the thread and closes the device (JavaScript thread). Safe to call more than once.
static void pcm_shutdown(Pcm *s, bool drain) {
  if (s->closed) return;
  s->closed = true;
  untrack(s);
  stop_device(s, drain);
  if (s->tsfn) {
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
    s->tsfn = NULL;
  }
  if (s->hook) {
    napi_remove_env_cleanup_hook(s->env, env_cleanup, s);
    s->hook = false;
  }
}

static void pcm_unref(Pcm *s) {
  if (--s->refs > 0) return;
  if (s->sink != NULL) pn_sender_unref(s->sink);
  if (s->source != NULL) pn_receiver_unref(s->source);
  pthread_mutex_destroy(&s->sink_mu);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->ring);
  free(s->tmp);
  s->magic = 0;
  free(s);
}

// Environment teardown (process exit, worker exit): close whatever is still open.
static void env_cleanup(void *arg) {
  Pcm *s = arg;
  s->hook = false;
  pcm_shutdown(s, false);
}

static void wrapper_finalize(napi_env env, void *data, void *hint) {
  Pcm *s = data;
  pcm_shutdown(s, false);
  if (s->callback) {
    napi_delete_reference(env, s->callback);
    s->callback = NULL;
  }
  pcm_unref(s);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) { pcm_unref(data); }

// Hands up to `max` complete frames to the callback as (frame: Int16Array, firstFrameIndex).
// Returns true if another complete frame is already waiting.
static bool deliver(napi_env env, Pcm *s, napi_value cb, int max) {
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (int i = 0; i < max && s->capture && !s->closed; i++) {
    uint32_t jf = atomic_load(&s->js_frames);
    uint64_t r = atomic_load_explicit(&s->rpos, memory_order_relaxed);
    uint64_t w = atomic_load_explicit(&s->wpos, memory_order_acquire);
    if (w - r < jf) return false;
    napi_value ab, ta, idx;
    void *dst;
    if (napi_create_arraybuffer(env, (size_t)jf * s->channels * 2, &dst, &ab) != napi_ok)
      return false;
    ring_read(s, r, dst, jf);
    atomic_store_explicit(&s->rpos, r + jf, memory_order_release);
    napi_create_typedarray(env, napi_int16_array, (size_t)jf * s->channels, ab, 0, &ta);
    napi_create_double(env, (double)r, &idx);
    napi_value argv[2] = {ta, idx};
    if (napi_call_function(env, undef, cb, 2, argv, NULL) != napi_ok) return false;
  }
  if (s->closed || !s->capture) return false;
  return atomic_load(&s->wpos) - atomic_load(&s->rpos) >= atomic_load(&s->js_frames);
}

// One bounded round of delivery, entered with notify_pending set. Returns true if frames remain:
// notify_pending then stays set (the thread queues no more calls) and JavaScript continues on a
// later turn of the event loop, so a device faster than real time cannot starve it.
static bool deliver_round(napi_env env, Pcm *s, napi_value cb) {
  if (deliver(env, s, cb, 64)) return true;
  atomic_store(&s->notify_pending, 0);
  // A frame completed after the last check but before the store above would wait for the next
  // period without this second look.
  bool waiting = atomic_load(&s->wpos) - atomic_load(&s->rpos) >= atomic_load(&s->js_frames);
  return waiting && !s->closed && !atomic_exchange(&s->notify_pending, 1);
}

// Reports a fatal device error once, as (null, 0, code, message).
static void report_fatal(napi_env env, Pcm *s, napi_value cb) {
  int fatal = atomic_load(&s->fatal);
  if (fatal == 0 || s->error_reported || s->closed) return;
  s->error_reported = true;
  napi_value undef, argv[4];
  napi_get_undefined(env, &undef);
  napi_get_null(env, &argv[0]);
  napi_create_double(env, 0, &argv[1]);
  napi_create_string_utf8(env, alsa_code(fatal), NAPI_AUTO_LENGTH, &argv[2]);
  char msg[300];
  snprintf(msg, sizeof msg, "%s: %s", s->name, snd_strerror(fatal));
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &argv[3]);
  napi_call_function(env, undef, cb, 4, argv, NULL);
}

// Runs on the JavaScript thread when the I/O thread has frames (or an error) for it. If frames
// remain after one round it calls back with (null, -1): the wrapper then calls drain() again
// from setImmediate.
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  Pcm *s = context;
  if (env == NULL || s->closed || s->callback == NULL) return;
  napi_value cb, undef;
  if (napi_get_reference_value(env, s->callback, &cb) != napi_ok || cb == NULL) return;
  if (deliver_round(env, s, cb) && !s->closed) {
    napi_value argv[2];
    napi_get_undefined(env, &undef);
    napi_get_null(env, &argv[0]);
    napi_create_double(env, -1, &argv[1]);
    if (napi_call_function(env, undef, cb, 2, argv, NULL) != napi_ok) return;
  }
  report_fatal(env, s, cb);
}

static Pcm *pcm_this(napi_env env, napi_value self, bool must_be_open) {
  void *p = NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL || *(uint32_t *)p != PCM_MAGIC) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "method called on an object that is not a PCM stream");
    return NULL;
  }
  Pcm *s = p;
  if (must_be_open && s->closed) {
    pn_throw(env, "ALSA_ERR_CLOSED", "the %s stream on '%s' is closed",
             s->capture ? "capture" : "playback", s->name);
    return NULL;
  }
  return s;
}

static uint64_t pow2_at_least(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// new NativePcm(device, capture, rate, channels, periodFrames, bufferFrames, jsFrames,
//               ringFrames, fillSilence, callback)
static napi_value pcm_new(napi_env env, napi_callback_info info) {
  napi_value argv[10], self;
  if (!pn_args(env, info, 10, argv, NULL, &self)) return NULL;
  char name[256];
  size_t name_len = 0;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_string ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok ||
      name_len == 0 || name_len >= sizeof name - 1) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "device must be a non-empty string of under 255 bytes");
    return NULL;
  }
  bool capture, fill;
  int64_t rate, ch, period, buffer, jsf, ringf;
  const char *C = "ALSA_ERR_BAD_ARG";
  if (!pn_bool(env, argv[1], C, "capture", &capture)) return NULL;
  if (!pn_int(env, argv[2], 8000, 48000, C, "sampleRate (Hz)", &rate)) return NULL;
  if (!pn_int(env, argv[3], 1, 2, C, "channels", &ch)) return NULL;
  if (!pn_int(env, argv[4], 16, 48000, C, "periodFrames", &period)) return NULL;
  if (!pn_int(env, argv[5], 32, 192000, C, "bufferFrames", &buffer)) return NULL;
  if (!pn_int(env, argv[6], 1, 48000 * 4, C, "frameSamples", &jsf)) return NULL;
  if (!pn_int(env, argv[7], 64, 48000 * 60, C, "ringFrames", &ringf)) return NULL;
  if (!pn_bool(env, argv[8], C, "fillSilence", &fill)) return NULL;
  napi_typeof(env, argv[9], &t);
  if (t != napi_function) {
    pn_throw(env, C, "callback must be a function");
    return NULL;
  }

  snd_pcm_t *pcm = NULL;
  int rc = snd_pcm_open(&pcm, name, capture ? SND_PCM_STREAM_CAPTURE : SND_PCM_STREAM_PLAYBACK, 0);
  if (rc < 0) {
    pn_throw(env, alsa_code(rc), "cannot open %s device '%s': %s",
             capture ? "capture" : "playback", name, snd_strerror(rc));
    return NULL;
  }
  snd_pcm_uframes_t p = (snd_pcm_uframes_t)period, b = (snd_pcm_uframes_t)buffer;
  const char *what = "";
  rc = setup_params(pcm, capture, (unsigned)rate, (unsigned)ch, &p, &b, &what);
  if (rc < 0) {
    snd_pcm_close(pcm);
    pn_throw(env, alsa_code(rc), "'%s' at %lld Hz × %lld ch: %s: %s", name, (long long)rate,
             (long long)ch, what, snd_strerror(rc));
    return NULL;
  }

  Pcm *s = calloc(1, sizeof *s);
  if (!s) {
    snd_pcm_close(pcm);
    pn_throw(env, "ALSA_ERR_IO", "out of memory");
    return NULL;
  }
  s->magic = PCM_MAGIC;
  s->refs = 1;
  s->env = env;
  s->pcm = pcm;
  s->capture = capture;
  s->rate = (unsigned)rate;
  s->channels = (unsigned)ch;
  memcpy(s->name, name, name_len + 1);
  uint64_t want = (uint64_t)ringf;
  if (want < 2 * (uint64_t)b) want = 2 * (uint64_t)b;
  s->ring_frames = pow2_at_least(want);
  s->ring = calloc(s->ring_frames * s->channels, sizeof(int16_t));
  atomic_init(&s->js_frames, (uint32_t)jsf);
  atomic_init(&s->fill_silence, fill);
  atomic_init(&s->start_ns, -1);
  atomic_init(&s->period, (uint32_t)p);
  atomic_init(&s->buffer, (uint32_t)b);
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->sink_mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (!s->ring || !ensure_tmp(s, p)) {
    snd_pcm_close(pcm);
    s->pcm = NULL;
    pcm_unref(s);
    pn_throw(env, "ALSA_ERR_IO", "out of memory");
    return NULL;
  }
  if (napi_create_reference(env, argv[9], 1, &s->callback) != napi_ok ||
      napi_wrap(env, self, s, wrapper_finalize, NULL, NULL) != napi_ok) {
    snd_pcm_close(pcm);
    s->pcm = NULL;
    if (s->callback) napi_delete_reference(env, s->callback);
    pcm_unref(s);
    pn_throw(env, "ALSA_ERR_IO", "could not wrap the stream");
    return NULL;
  }
  napi_value res_name;
  napi_create_string_utf8(env, "parloir-pcm", NAPI_AUTO_LENGTH, &res_name);
  s->refs++;
  if (napi_create_threadsafe_function(env, NULL, NULL, res_name, 0, 1, s, tsfn_finalize, s,
                                      call_js, &s->tsfn) != napi_ok) {
    s->refs--;
    s->tsfn = NULL;
    pcm_shutdown(s, false);
    pn_throw(env, "ALSA_ERR_IO", "could not create the thread-safe function");
    return NULL;
  }
  // A playback stream does not keep the process alive by itself; a capture stream does, like an
  // open socket, until it is closed.
  if (!capture) napi_unref_threadsafe_function(env, s->tsfn);

  napi_add_env_cleanup_hook(env, env_cleanup, s);
  s->hook = true;

  // SCHED_FIFO when allowed (root or RLIMIT_RTPRIO), otherwise silently the normal scheduler.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  struct sched_param sp = {.sched_priority = 10};
  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
  pthread_attr_setschedparam(&attr, &sp);
  if (pthread_create(&s->thread, &attr, io_thread, s) == 0) {
    s->realtime = true;
    s->thread_started = true;
  } else if (pthread_create(&s->thread, NULL, io_thread, s) == 0) {
    s->thread_started = true;
  }
  pthread_attr_destroy(&attr);
  if (!s->thread_started) {
    pcm_shutdown(s, false);
    pn_throw(env, "ALSA_ERR_IO", "could not start the I/O thread");
    return NULL;
  }
  track_open(s);
  return self;
}

// write(frames: Int16Array): number of frames accepted (all or none)
static napi_value pcm_write(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, true);
  if (!s) return NULL;
  if (s->capture) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "write() on a capture stream");
    return NULL;
  }
  int16_t *src;
  size_t len;
  if (!pn_typed(env, argv[0], napi_int16_array, "ALSA_ERR_BAD_ARG", "frame", (void **)&src, &len))
    return NULL;
  if (len % s->channels != 0) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "frame length %zu is not a multiple of %u channels", len,
             s->channels);
    return NULL;
  }
  uint64_t n = len / s->channels;
  uint64_t w = atomic_load_explicit(&s->wpos, memory_order_relaxed);
  uint64_t r = atomic_load_explicit(&s->rpos, memory_order_acquire);
  napi_value res;
  if (s->ring_frames - (w - r) < n) {
    atomic_fetch_add(&s->dropped_frames, n);
    napi_create_int32(env, 0, &res);
    return res;
  }
  uint64_t mask = s->ring_frames - 1;
  for (uint64_t done = 0; done < n;) {
    uint64_t at = (w + done) & mask;
    uint64_t chunk = s->ring_frames - at;
    if (chunk > n - done) chunk = n - done;
    memcpy(s->ring + at * s->channels, src + done * s->channels,
           chunk * s->channels * sizeof(int16_t));
    done += chunk;
  }
  atomic_store_explicit(&s->wpos, w + n, memory_order_release);
  napi_create_double(env, (double)n, &res);
  return res;
}

// setFrameSamples(frames): capture frame size handed to JavaScript, effective at the next frame.
static napi_value pcm_set_js_frames(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, true);
  if (!s) return NULL;
  int64_t f;
  if (!pn_int(env, argv[0], 1, (int64_t)s->ring_frames / 2, "ALSA_ERR_BAD_ARG", "frameSamples",
              &f))
    return NULL;
  atomic_store(&s->js_frames, (uint32_t)f);
  return NULL;
}

// setSink(sender: NativeRtpSender | null): capture only, 48 kHz mono. From the next period the
// I/O thread feeds the sender instead of the ring (null: back to the ring and JavaScript).
static napi_value pcm_set_sink(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, true);
  if (!s) return NULL;
  if (!s->capture || s->rate != 48000 || s->channels != 1) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "a sender takes 48 kHz mono capture streams only");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  PnSender *next = NULL;
  if (t != napi_null && t != napi_undefined) {
    next = pn_sender_from_js(env, argv[0]);
    if (next == NULL) return NULL;
    pn_sender_ref(next);
  }
  pthread_mutex_lock(&s->sink_mu);
  PnSender *prev = s->sink;
  s->sink = next;
  pthread_mutex_unlock(&s->sink_mu);
  if (prev != NULL) pn_sender_unref(prev);
  return NULL;
}

// setSource(receiver: NativeRtpReceiver | null): playback only, 48 kHz mono. From the next
// period the I/O thread pulls the receiver's audio instead of the ring (null: back to the ring).
static napi_value pcm_set_source(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, true);
  if (!s) return NULL;
  if (s->capture || s->rate != 48000 || s->channels != 1) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "a receiver feeds 48 kHz mono playback streams only");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  PnReceiver *next = NULL;
  if (t != napi_null && t != napi_undefined) {
    next = pn_receiver_from_js(env, argv[0]);
    if (next == NULL) return NULL;
    pn_receiver_ref(next);
  }
  pthread_mutex_lock(&s->sink_mu);
  PnReceiver *prev = s->source;
  s->source = next;
  pthread_mutex_unlock(&s->sink_mu);
  if (prev != NULL) pn_receiver_unref(prev);
  return NULL;
}

// drain(): boolean. Continues delivery after call_js signalled (null, -1); true if frames remain
// (call again on a later turn of the event loop).
static napi_value pcm_drain(napi_env env, napi_callback_info info) {
  napi_value self, cb, res;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, false);
  if (!s) return NULL;
  bool more = false;
  if (!s->closed && s->callback &&
      napi_get_reference_value(env, s->callback, &cb) == napi_ok && cb != NULL) {
    more = deliver_round(env, s, cb) && !s->closed;
    report_fatal(env, s, cb);
  }
  napi_get_boolean(env, more, &res);
  return res;
}

static napi_value pcm_set_fill_silence(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, true);
  if (!s) return NULL;
  bool f;
  if (!pn_bool(env, argv[0], "ALSA_ERR_BAD_ARG", "fillSilence", &f)) return NULL;
  atomic_store(&s->fill_silence, f);
  return NULL;
}

// reconfigure(periodFrames, bufferFrames): { periodFrames, bufferFrames } as negotiated. The I/O
// thread applies it between two transfers; this waits for it (at most one period, normally).
static napi_value pcm_reconfigure(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, true);
  if (!s) return NULL;
  int64_t period, buffer;
  if (!pn_int(env, argv[0], 16, 48000, "ALSA_ERR_BAD_ARG", "periodFrames", &period)) return NULL;
  if (!pn_int(env, argv[1], 32, 192000, "ALSA_ERR_BAD_ARG", "bufferFrames", &buffer)) return NULL;
  if ((uint64_t)buffer > s->ring_frames / 2) {
    pn_throw(env, "ALSA_ERR_BAD_ARG", "bufferFrames %lld exceeds half the ring (%llu frames)",
             (long long)buffer, (unsigned long long)s->ring_frames);
    return NULL;
  }
  if (atomic_load(&s->fatal) != 0) {
    pn_throw(env, alsa_code(atomic_load(&s->fatal)), "%s: %s", s->name,
             snd_strerror(atomic_load(&s->fatal)));
    return NULL;
  }
  pthread_mutex_lock(&s->mu);
  s->req_period = (snd_pcm_uframes_t)period;
  s->req_buffer = (snd_pcm_uframes_t)buffer;
  s->req_pending = true;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 2;
  int rc = 0;
  while (s->req_pending && rc == 0) rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
  bool timed_out = s->req_pending;
  s->req_pending = false;
  int result = s->req_result;
  pthread_mutex_unlock(&s->mu);
  if (timed_out) {
    pn_throw(env, "ALSA_ERR_IO", "%s: the I/O thread did not answer within 2 s", s->name);
    return NULL;
  }
  if (result < 0) {
    pn_throw(env, alsa_code(result), "%s: period %lld / buffer %lld frames refused: %s", s->name,
             (long long)period, (long long)buffer, snd_strerror(result));
    return NULL;
  }
  napi_value o;
  napi_create_object(env, &o);
  pn_set_num(env, o, "periodFrames", atomic_load(&s->period));
  pn_set_num(env, o, "bufferFrames", atomic_load(&s->buffer));
  return o;
}

static napi_value pcm_stats(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, false);
  if (!s) return NULL;
  napi_value o;
  napi_create_object(env, &o);
  uint64_t w = atomic_load(&s->wpos), r = atomic_load(&s->rpos);
  int64_t start = atomic_load(&s->start_ns);
  pn_set_num(env, o, "xruns", (double)atomic_load(&s->xruns));
  pn_set_num(env, o, "delayFrames", (double)atomic_load(&s->delay_frames));
  pn_set_num(env, o, "ringFrames", (double)(w - r));
  pn_set_num(env, o, "ringCapacityFrames", (double)s->ring_frames);
  pn_set_num(env, o, "deviceFrames", (double)atomic_load(&s->device_frames));
  pn_set_num(env, o, "silenceFrames", (double)atomic_load(&s->silence_frames));
  pn_set_num(env, o, "droppedFrames", (double)atomic_load(&s->dropped_frames));
  pn_set_num(env, o, "startMonotonicMs", start < 0 ? -1 : (double)start / 1e6);
  pn_set_num(env, o, "nowMonotonicMs", (double)mono_ns() / 1e6);
  pn_set_num(env, o, "periodFrames", atomic_load(&s->period));
  pn_set_num(env, o, "bufferFrames", atomic_load(&s->buffer));
  pn_set_num(env, o, "frameSamples", atomic_load(&s->js_frames));
  pn_set_bool(env, o, "realtime", s->realtime);
  pn_set_bool(env, o, "closed", s->closed);
  int fatal = atomic_load(&s->fatal);
  pn_set_str(env, o, "error", fatal ? snd_strerror(fatal) : "");
  return o;
}

// close(drain: boolean): idempotent. With drain, a playback stream first plays what is queued.
static napi_value pcm_close(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Pcm *s = pcm_this(env, self, false);
  if (!s) return NULL;
  bool drain = false;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t == napi_boolean) napi_get_value_bool(env, argv[0], &drain);
  pcm_shutdown(s, drain);
  return NULL;
}

// listPcmDevices(): [{ name, description, direction }] from snd_device_name_hint.
static napi_value list_devices(napi_env env, napi_callback_info info) {
  napi_value arr;
  napi_create_array(env, &arr);
  void **hints = NULL;
  int rc = snd_device_name_hint(-1, "pcm", &hints);
  if (rc < 0) {
    pn_throw(env, alsa_code(rc), "snd_device_name_hint: %s", snd_strerror(rc));
    return NULL;
  }
  uint32_t i = 0;
  for (void **h = hints; *h != NULL; h++) {
    char *name = snd_device_name_get_hint(*h, "NAME");
    char *desc = snd_device_name_get_hint(*h, "DESC");
    char *ioid = snd_device_name_get_hint(*h, "IOID");
    if (name) {
      napi_value o;
      napi_create_object(env, &o);
      pn_set_str(env, o, "name", name);
      pn_set_str(env, o, "description", desc ? desc : "");
      pn_set_str(env, o, "direction",
                 ioid == NULL ? "both" : strcmp(ioid, "Input") == 0 ? "capture" : "playback");
      napi_set_element(env, arr, i++, o);
    }
    free(name);
    free(desc);
    free(ioid);
  }
  snd_device_name_free_hint(hints);
  return arr;
}

napi_value pn_pcm_init(napi_env env, napi_value exports) {
  snd_lib_error_set_handler(quiet_alsa);
  napi_property_descriptor props[] = {
      {"write", NULL, pcm_write, NULL, NULL, NULL, napi_default, NULL},
      {"setFrameSamples", NULL, pcm_set_js_frames, NULL, NULL, NULL, napi_default, NULL},
      {"setSink", NULL, pcm_set_sink, NULL, NULL, NULL, napi_default, NULL},
      {"setSource", NULL, pcm_set_source, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, pcm_drain, NULL, NULL, NULL, napi_default, NULL},
      {"setFillSilence", NULL, pcm_set_fill_silence, NULL, NULL, NULL, napi_default, NULL},
      {"reconfigure", NULL, pcm_reconfigure, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, pcm_stats, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, pcm_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativePcm", NAPI_AUTO_LENGTH, pcm_new, NULL,
                    sizeof props / sizeof props[0], props, &cls);
  napi_set_named_property(env, exports, "NativePcm", cls);
  napi_value fn;
  napi_create_function(env, "listPcmDevices", NAPI_AUTO_LENGTH, list_devices, NULL, &fn);
  napi_set_named_property(env, exports, "listPcmDevices", fn);
  return exports;
}
