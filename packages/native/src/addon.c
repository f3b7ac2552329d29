// Parloir native addon: ALSA (libasound) and libopus behind N-API.
#include <node_api.h>
#include <alsa/asoundlib.h>
#include <opus.h>

static napi_value versions(napi_env env, napi_callback_info info) {
  napi_value obj, alsa, opus;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, snd_asoundlib_version(), NAPI_AUTO_LENGTH, &alsa);
  napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &opus);
  napi_set_named_property(env, obj, "alsa", alsa);
  napi_set_named_property(env, obj, "opus", opus);
  return obj;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "versions", NAPI_AUTO_LENGTH, versions, NULL, &fn);
  napi_set_named_property(env, exports, "versions", fn);
  return exports;
}
