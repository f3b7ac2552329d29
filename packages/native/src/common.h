// Shared helpers of the Parloir addon: argument checks and typed N-API errors.
#ifndef PARLOIR_COMMON_H
#define PARLOIR_COMMON_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Throws an Error whose `code` property is `code` (e.g. "OPUS_ERR_BAD_ARG"). N-API's
// napi_throw_error sets `code` itself; the TypeScript wrapper maps it to an error class.
void pn_throw(napi_env env, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Fetches up to `max` arguments and `this`; missing ones are `undefined`. Returns false (with a
// pending exception) if N-API itself failed.
bool pn_args(napi_env env, napi_callback_info info, size_t max, napi_value *argv, size_t *argc,
             napi_value *self);

// Reads an integer argument in [lo, hi]; throws `code` naming `what` otherwise.
bool pn_int(napi_env env, napi_value v, int64_t lo, int64_t hi, const char *code,
            const char *what, int64_t *out);

// Reads a boolean argument; throws `code` naming `what` otherwise.
bool pn_bool(napi_env env, napi_value v, const char *code, const char *what, bool *out);

// Reads a typed array of exactly `type` (e.g. napi_int16_array); throws `code` otherwise.
bool pn_typed(napi_env env, napi_value v, napi_typedarray_type type, const char *code,
              const char *what, void **data, size_t *length);

// Options-object readers: the property `key` of `obj` as an integer in [lo, hi], or as a
// Uint8Array; throw `code` naming the key otherwise.
bool pn_opt_int(napi_env env, napi_value obj, const char *key, int64_t lo, int64_t hi,
                const char *code, int64_t *out);
bool pn_opt_bytes(napi_env env, napi_value obj, const char *key, const char *code,
                  uint8_t **data, size_t *length);
// As pn_opt_int, but an absent (undefined) property gives `fallback`.
bool pn_opt_int_or(napi_env env, napi_value obj, const char *key, int64_t lo, int64_t hi,
                   int64_t fallback, const char *code, int64_t *out);

// napi_value helpers for building result objects.
void pn_set_num(napi_env env, napi_value obj, const char *key, double v);
void pn_set_bool(napi_env env, napi_value obj, const char *key, bool v);
void pn_set_str(napi_env env, napi_value obj, const char *key, const char *v);

// Module parts.
napi_value pn_opus_init(napi_env env, napi_value exports);
napi_value pn_pcm_init(napi_env env, napi_value exports);
napi_value pn_relay_init(napi_env env, napi_value exports);
napi_value pn_timer_init(napi_env env, napi_value exports);
napi_value pn_srtp_init(napi_env env, napi_value exports);
napi_value pn_sender_init(napi_env env, napi_value exports);
napi_value pn_jitter_init(napi_env env, napi_value exports);
napi_value pn_receiver_init(napi_env env, napi_value exports);
napi_value pn_apm_init(napi_env env, napi_value exports);

// A jitter buffer's counters (jitter.h) as a JavaScript object (jitter_napi.c).
struct PnJbStats;
napi_value pn_jb_stats_js(napi_env env, const struct PnJbStats *s);

#endif
