// A one-shot timer on the event loop's own libuv timer heap. Node's JS timers share one libuv
// timer that is only ever moved earlier: a setTimeout cleared or replaced by a later one still
// wakes the process at its old expiry (the loop wakes, finds nothing due and sleeps again). A
// deadline pushed back on every packet (the playout's fallback pull) then costs one idle process
// wakeup per packet. uv_timer_start/uv_timer_stop really move or remove the expiry.
#include <stdlib.h>
#include <uv.h>

#include "common.h"

typedef struct {
  uv_timer_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  bool closed;     // close() or the finalizer ran: stopped, references released
  bool uv_closed;  // libuv's close callback ran: the handle is no longer in use
  bool finalized;  // the JS wrapper is gone: nothing points at this struct any more
} pn_timer;

// The struct is shared by libuv (until its close callback) and the JS wrapper (until its
// finalizer): freed when both are done, whichever comes last. Freeing it in the close callback
// alone left the wrapper's finalizer a dangling pointer after an explicit close().
static void timer_maybe_free(pn_timer *t) {
  if (t->uv_closed && t->finalized) free(t);
}

static void timer_free(uv_handle_t *h) {
  pn_timer *t = h->data;
  t->uv_closed = true;
  timer_maybe_free(t);
}

// Stops the timer and releases the JS references; the struct goes when libuv is done with it.
static void timer_close(napi_env env, pn_timer *t) {
  if (t->closed) return;
  t->closed = true;
  uv_timer_stop(&t->handle);
  if (t->callback) napi_delete_reference(env, t->callback);
  if (t->async) napi_async_destroy(env, t->async);
  t->callback = NULL;
  t->async = NULL;
  uv_close((uv_handle_t *)&t->handle, timer_free);
}

static void on_timer(uv_timer_t *h) {
  pn_timer *t = h->data;
  if (t->closed) return;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, result;
  if (napi_get_reference_value(env, t->callback, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv); // napi_make_callback wants an object receiver
    // napi_make_callback runs the microtask queue and nextTicks afterwards, as a JS timer does.
    if (napi_make_callback(env, t->async, recv, cb, 0, NULL, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err); // 'uncaughtException', as for a throwing setTimeout
    }
  }
  napi_close_handle_scope(env, scope);
}

static void timer_finalize(napi_env env, void *data, void *hint) {
  pn_timer *t = data;
  timer_close(env, t);
  t->finalized = true;
  timer_maybe_free(t);
}

static pn_timer *unwrap(napi_env env, napi_value self) {
  pn_timer *t = NULL;
  if (napi_unwrap(env, self, (void **)&t) != napi_ok || t == NULL) {
    pn_throw(env, "NATIVE_ERR_BAD_ARG", "not a NativeTimer");
    return NULL;
  }
  return t;
}

// new NativeTimer(callback)
static napi_value timer_new(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  napi_valuetype type;
  napi_typeof(env, argv[0], &type);
  if (type != napi_function) {
    pn_throw(env, "NATIVE_ERR_BAD_ARG", "callback must be a function");
    return NULL;
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    pn_throw(env, "NATIVE_ERR_INTERNAL", "no event loop");
    return NULL;
  }
  pn_timer *t = calloc(1, sizeof *t);
  if (t == NULL) {
    pn_throw(env, "NATIVE_ERR_INTERNAL", "out of memory");
    return NULL;
  }
  t->env = env;
  uv_timer_init(loop, &t->handle);
  t->handle.data = t;
  napi_value name;
  napi_create_string_utf8(env, "ParloirNativeTimer", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[0], 1, &t->callback) != napi_ok ||
      napi_async_init(env, self, name, &t->async) != napi_ok ||
      napi_wrap(env, self, t, timer_finalize, NULL, NULL) != napi_ok) {
    t->finalized = true; // not wrapped: only libuv's close callback is left to free it
    timer_close(env, t);
    pn_throw(env, "NATIVE_ERR_INTERNAL", "cannot create the timer");
    return NULL;
  }
  return self;
}

// arm(delayMs): fires once, `delayMs` (whole ms, 0..2^31) from the loop's current time; replaces
// any pending expiry, earlier or later.
static napi_value timer_arm(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  pn_timer *t = unwrap(env, self);
  if (t == NULL) return NULL;
  int64_t ms;
  if (!pn_int(env, argv[0], 0, INT32_MAX, "NATIVE_ERR_BAD_ARG", "delayMs", &ms)) return NULL;
  if (t->closed) {
    pn_throw(env, "NATIVE_ERR_CLOSED", "the timer is closed");
    return NULL;
  }
  // The loop's cached time can be stale by the length of the current callback: refresh it so the
  // delay counts from now, as the caller means it.
  uv_update_time(t->handle.loop);
  uv_timer_start(&t->handle, on_timer, (uint64_t)ms, 0);
  return NULL;
}

static napi_value timer_disarm(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  pn_timer *t = unwrap(env, self);
  if (t != NULL && !t->closed) uv_timer_stop(&t->handle);
  return NULL;
}

static napi_value timer_close_js(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  pn_timer *t = unwrap(env, self);
  if (t != NULL) timer_close(env, t);
  return NULL;
}

napi_value pn_timer_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"arm", NULL, timer_arm, NULL, NULL, NULL, napi_default, NULL},
      {"disarm", NULL, timer_disarm, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, timer_close_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativeTimer", NAPI_AUTO_LENGTH, timer_new, NULL,
                    sizeof methods / sizeof methods[0], methods, &cls);
  napi_set_named_property(env, exports, "NativeTimer", cls);
  return exports;
}
