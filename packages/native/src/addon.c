// Parloir native addon: ALSA (libasound), libopus, the TURN forwarding thread and a libuv timer
// behind N-API.
#include <alsa/asoundlib.h>
#include <opus.h>
#include <stdarg.h>
#include <stdio.h>

#include "apm_pipe.h"
#include "common.h"

void pn_throw(napi_env env, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, code, msg);
}

bool pn_args(napi_env env, napi_callback_info info, size_t max, napi_value *argv, size_t *argc,
             napi_value *self) {
  size_t n = max;
  if (napi_get_cb_info(env, info, &n, argv, self, NULL) != napi_ok) {
    pn_throw(env, "NATIVE_ERR_INTERNAL", "napi_get_cb_info failed");
    return false;
  }
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = n; i < max; i++) argv[i] = undef;
  if (argc) *argc = n;
  return true;
}

bool pn_int(napi_env env, napi_value v, int64_t lo, int64_t hi, const char *code,
            const char *what, int64_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, &d) != napi_ok) {
    pn_throw(env, code, "%s must be a number", what);
    return false;
  }
  if (!(d == (double)(int64_t)d) || d < (double)lo || d > (double)hi) {
    pn_throw(env, code, "%s must be an integer in [%lld, %lld], got %g", what, (long long)lo,
             (long long)hi, d);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool pn_bool(napi_env env, napi_value v, const char *code, const char *what, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean ||
      napi_get_value_bool(env, v, out) != napi_ok) {
    pn_throw(env, code, "%s must be a boolean", what);
    return false;
  }
  return true;
}

static const char *typed_name(napi_typedarray_type t) {
  switch (t) {
    case napi_uint8_array: return "Uint8Array";
    case napi_int16_array: return "Int16Array";
    default: return "typed array";
  }
}

bool pn_typed(napi_env env, napi_value v, napi_typedarray_type type, const char *code,
              const char *what, void **data, size_t *length) {
  bool is = false;
  napi_typedarray_type t;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &t, length, data, NULL, NULL) != napi_ok || t != type) {
    pn_throw(env, code, "%s must be a %s", what, typed_name(type));
    return false;
  }
  return true;
}

static bool opt_prop(napi_env env, napi_value obj, const char *key, const char *code,
                     napi_value *out) {
  if (napi_get_named_property(env, obj, key, out) != napi_ok) {
    pn_throw(env, code, "cannot read option %s", key);
    return false;
  }
  return true;
}

bool pn_opt_int(napi_env env, napi_value obj, const char *key, int64_t lo, int64_t hi,
                const char *code, int64_t *out) {
  napi_value v;
  return opt_prop(env, obj, key, code, &v) && pn_int(env, v, lo, hi, code, key, out);
}

bool pn_opt_int_or(napi_env env, napi_value obj, const char *key, int64_t lo, int64_t hi,
                   int64_t fallback, const char *code, int64_t *out) {
  napi_value v;
  napi_valuetype t;
  if (!opt_prop(env, obj, key, code, &v)) return false;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_undefined) {
    *out = fallback;
    return true;
  }
  return pn_int(env, v, lo, hi, code, key, out);
}

bool pn_opt_bytes(napi_env env, napi_value obj, const char *key, const char *code,
                  uint8_t **data, size_t *length) {
  napi_value v;
  return opt_prop(env, obj, key, code, &v) &&
         pn_typed(env, v, napi_uint8_array, code, key, (void **)data, length);
}

void pn_set_num(napi_env env, napi_value obj, const char *key, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

void pn_set_bool(napi_env env, napi_value obj, const char *key, bool v) {
  napi_value x;
  napi_get_boolean(env, v, &x);
  napi_set_named_property(env, obj, key, x);
}

void pn_set_str(napi_env env, napi_value obj, const char *key, const char *v) {
  napi_value x;
  napi_create_string_utf8(env, v ? v : "", NAPI_AUTO_LENGTH, &x);
  napi_set_named_property(env, obj, key, x);
}

static napi_value versions(napi_env env, napi_callback_info info) {
  napi_value obj;
  napi_create_object(env, &obj);
  pn_set_str(env, obj, "alsa", snd_asoundlib_version());
  pn_set_str(env, obj, "opus", opus_get_version_string());
  return obj;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "versions", NAPI_AUTO_LENGTH, versions, NULL, &fn);
  napi_set_named_property(env, exports, "versions", fn);
  pn_opus_init(env, exports);
  pn_pcm_init(env, exports);
  pn_relay_init(env, exports);
  pn_timer_init(env, exports);
  pn_srtp_init(env, exports);
  pn_sender_init(env, exports);
  pn_jitter_init(env, exports);
  pn_receiver_init(env, exports);
  pn_apm_init(env, exports);
  pn_apm_pipe_init(env, exports);
  return exports;
}
