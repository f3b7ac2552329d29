// Link stubs for the fuzz harnesses: the addon's N-API entry points are compiled into the
// harness binaries (the harnesses include whole source files to reach their static parsers) but
// never called. Each stub aborts, so a harness that did reach one would fail loudly. Defined
// without node_api.h on purpose: only the symbol names matter to the linker.
#include <stdlib.h>

#define STUB(name) \
  void name(void); \
  void name(void) { abort(); }

STUB(napi_add_env_cleanup_hook)
STUB(napi_call_function)
STUB(napi_create_array)
STUB(napi_create_arraybuffer)
STUB(napi_create_buffer)
STUB(napi_create_buffer_copy)
STUB(napi_create_double)
STUB(napi_create_int32)
STUB(napi_create_object)
STUB(napi_create_reference)
STUB(napi_create_string_utf8)
STUB(napi_create_threadsafe_function)
STUB(napi_create_typedarray)
STUB(napi_create_uint32)
STUB(napi_define_class)
STUB(napi_delete_reference)
STUB(napi_get_and_clear_last_exception)
STUB(napi_get_boolean)
STUB(napi_get_named_property)
STUB(napi_get_null)
STUB(napi_get_reference_value)
STUB(napi_get_typedarray_info)
STUB(napi_get_undefined)
STUB(napi_get_value_bool)
STUB(napi_get_value_double)
STUB(napi_get_value_string_utf8)
STUB(napi_is_typedarray)
STUB(napi_release_threadsafe_function)
STUB(napi_remove_env_cleanup_hook)
STUB(napi_set_element)
STUB(napi_set_named_property)
STUB(napi_typeof)
STUB(napi_unref_threadsafe_function)
STUB(napi_unwrap)
STUB(napi_wrap)
STUB(pn_args)
STUB(pn_bool)
STUB(pn_int)
STUB(pn_jb_stats_js)
STUB(pn_opt_bytes)
STUB(pn_opt_int)
STUB(pn_opt_int_or)
STUB(pn_set_num)
STUB(pn_throw)
STUB(pn_typed)
// The call's audio processing (src/apm_pipe.cc, C++): the receiver reaches it only once a pipe
// is attached (pn_receiver_set_apm), which the harnesses and test/replay-pcm.c never do.
STUB(pn_apm_pipe_far)
STUB(pn_apm_pipe_ref)
STUB(pn_apm_pipe_unref)

// Queuing a call to JavaScript is what the receiver and relay threads do when they hand a
// datagram up: the harnesses free those queues themselves, so this one reports success (napi_ok).
int napi_call_threadsafe_function(void);
int napi_call_threadsafe_function(void) { return 0; }
