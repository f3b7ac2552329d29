// libopus encoder and decoder as N-API classes. Every argument is checked here, in C, so that no
// JavaScript value can reach libopus with a wrong length or type (RFC 6716 frame sizes only).
#include <opus.h>
#include <stdlib.h>

#include "common.h"

// Largest packet libopus can produce for one call: 3 × 1275-byte frames plus TOC/length bytes
// (RFC 6716 §3.2.5 allows up to 120 ms; the encoder API stops at 60 ms).
#define MAX_PACKET_BYTES 4000

#define ENC_MAGIC 0x4f454e43u  // "OENC": guards against a decoder passed as `this`
#define DEC_MAGIC 0x4f444543u  // "ODEC"

typedef struct {
  uint32_t magic;
  OpusEncoder *enc;
  int rate;
  int channels;
} Enc;

typedef struct {
  uint32_t magic;
  OpusDecoder *dec;
  int rate;
  int channels;
} Dec;

static const char *opus_code(int err) {
  switch (err) {
    case OPUS_BAD_ARG: return "OPUS_ERR_BAD_ARG";
    case OPUS_BUFFER_TOO_SMALL: return "OPUS_ERR_BUFFER_TOO_SMALL";
    case OPUS_INVALID_PACKET: return "OPUS_ERR_INVALID_PACKET";
    case OPUS_UNIMPLEMENTED: return "OPUS_ERR_UNIMPLEMENTED";
    case OPUS_INVALID_STATE: return "OPUS_ERR_INVALID_STATE";
    case OPUS_ALLOC_FAIL: return "OPUS_ERR_ALLOC_FAIL";
    default: return "OPUS_ERR_INTERNAL";
  }
}

static void throw_opus(napi_env env, int err, const char *what) {
  pn_throw(env, opus_code(err), "%s: %s", what, opus_strerror(err));
}

static bool valid_rate(int64_t r) {
  return r == 8000 || r == 12000 || r == 16000 || r == 24000 || r == 48000;
}

// RFC 6716 §2.1.4: frames of 2.5, 5, 10, 20, 40 or 60 ms.
static bool valid_frame(int rate, int64_t samples) {
  int q = rate / 400;  // samples in 2.5 ms
  if (samples <= 0 || samples % q != 0) return false;
  int64_t m = samples / q;
  return m == 1 || m == 2 || m == 4 || m == 8 || m == 16 || m == 24;
}

static bool get_this(napi_env env, napi_value self, void **out, uint32_t magic) {
  void *p = NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL || *(uint32_t *)p != magic) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "method called on an object that is not an Opus codec");
    return false;
  }
  *out = p;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Encoder

static void enc_finalize(napi_env env, void *data, void *hint) {
  Enc *e = data;
  if (e->enc) opus_encoder_destroy(e->enc);
  free(e);
}

// new NativeOpusEncoder(rate, channels, application)
static napi_value enc_new(napi_env env, napi_callback_info info) {
  napi_value argv[3], self;
  if (!pn_args(env, info, 3, argv, NULL, &self)) return NULL;
  int64_t rate, ch, app;
  if (!pn_int(env, argv[0], 0, 48000, "OPUS_ERR_BAD_ARG", "sampleRate", &rate)) return NULL;
  if (!valid_rate(rate)) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "sampleRate must be 8000, 12000, 16000, 24000 or 48000 Hz");
    return NULL;
  }
  if (!pn_int(env, argv[1], 1, 2, "OPUS_ERR_BAD_ARG", "channels", &ch)) return NULL;
  if (!pn_int(env, argv[2], 0, 100000, "OPUS_ERR_BAD_ARG", "application", &app)) return NULL;
  if (app != OPUS_APPLICATION_VOIP && app != OPUS_APPLICATION_AUDIO &&
      app != OPUS_APPLICATION_RESTRICTED_LOWDELAY) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "application must be voip, audio or restricted-lowdelay");
    return NULL;
  }
  int err = OPUS_OK;
  OpusEncoder *oe = opus_encoder_create((opus_int32)rate, (int)ch, (int)app, &err);
  if (err != OPUS_OK || oe == NULL) {
    throw_opus(env, err, "opus_encoder_create");
    return NULL;
  }
  Enc *e = calloc(1, sizeof *e);
  if (!e) {
    opus_encoder_destroy(oe);
    pn_throw(env, "OPUS_ERR_ALLOC_FAIL", "out of memory");
    return NULL;
  }
  e->magic = ENC_MAGIC;
  e->enc = oe;
  e->rate = (int)rate;
  e->channels = (int)ch;
  if (napi_wrap(env, self, e, enc_finalize, NULL, NULL) != napi_ok) {
    enc_finalize(env, e, NULL);
    pn_throw(env, "OPUS_ERR_INTERNAL", "napi_wrap failed");
    return NULL;
  }
  return self;
}

static Enc *enc_open(napi_env env, napi_value self) {
  Enc *e;
  if (!get_this(env, self, (void **)&e, ENC_MAGIC)) return NULL;
  if (e->enc == NULL) {
    pn_throw(env, "OPUS_ERR_CLOSED", "the Opus encoder is closed");
    return NULL;
  }
  return e;
}

// Checks one PCM frame argument; returns samples per channel or -1 (exception pending).
static int64_t enc_pcm(napi_env env, Enc *e, napi_value v, int16_t **pcm) {
  size_t len;
  if (!pn_typed(env, v, napi_int16_array, "OPUS_ERR_BAD_ARG", "pcm", (void **)pcm, &len))
    return -1;
  if (len % (size_t)e->channels != 0 || !valid_frame(e->rate, (int64_t)(len / e->channels))) {
    pn_throw(env, "OPUS_ERR_BAD_ARG",
             "pcm holds %zu samples; at %d Hz × %d channel(s) a frame of 2.5, 5, 10, 20, 40 or "
             "60 ms holds a multiple of %d",
             len, e->rate, e->channels, e->rate / 400 * e->channels);
    return -1;
  }
  return (int64_t)(len / e->channels);
}

// encode(pcm: Int16Array): Buffer
static napi_value enc_encode(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Enc *e = enc_open(env, self);
  if (!e) return NULL;
  int16_t *pcm;
  int64_t n = enc_pcm(env, e, argv[0], &pcm);
  if (n < 0) return NULL;
  unsigned char out[MAX_PACKET_BYTES];
  opus_int32 bytes = opus_encode(e->enc, pcm, (int)n, out, MAX_PACKET_BYTES);
  if (bytes < 0) {
    throw_opus(env, bytes, "opus_encode");
    return NULL;
  }
  napi_value buf;
  void *dst;
  if (napi_create_buffer_copy(env, (size_t)bytes, out, &dst, &buf) != napi_ok) {
    pn_throw(env, "OPUS_ERR_ALLOC_FAIL", "could not allocate the packet buffer");
    return NULL;
  }
  return buf;
}

// encodeInto(pcm: Int16Array, out: Uint8Array): number of bytes written
static napi_value enc_encode_into(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  Enc *e = enc_open(env, self);
  if (!e) return NULL;
  int16_t *pcm;
  int64_t n = enc_pcm(env, e, argv[0], &pcm);
  if (n < 0) return NULL;
  unsigned char *out;
  size_t cap;
  if (!pn_typed(env, argv[1], napi_uint8_array, "OPUS_ERR_BAD_ARG", "out", (void **)&out, &cap))
    return NULL;
  if (cap == 0) {
    pn_throw(env, "OPUS_ERR_BUFFER_TOO_SMALL", "out has no room");
    return NULL;
  }
  opus_int32 bytes =
      opus_encode(e->enc, pcm, (int)n, out, cap > MAX_PACKET_BYTES ? MAX_PACKET_BYTES : (opus_int32)cap);
  if (bytes < 0) {
    throw_opus(env, bytes, "opus_encode");
    return NULL;
  }
  napi_value r;
  napi_create_int32(env, bytes, &r);
  return r;
}

// The CTLs the wrapper may use. Only these reach opus_*_ctl: a GET request writes through a
// pointer, so an arbitrary request number from JavaScript would be unsafe.
static bool enc_set_ok(int req) {
  switch (req) {
    case OPUS_SET_APPLICATION_REQUEST:
    case OPUS_SET_BITRATE_REQUEST:
    case OPUS_SET_MAX_BANDWIDTH_REQUEST:
    case OPUS_SET_VBR_REQUEST:
    case OPUS_SET_BANDWIDTH_REQUEST:
    case OPUS_SET_COMPLEXITY_REQUEST:
    case OPUS_SET_INBAND_FEC_REQUEST:
    case OPUS_SET_PACKET_LOSS_PERC_REQUEST:
    case OPUS_SET_DTX_REQUEST:
    case OPUS_SET_VBR_CONSTRAINT_REQUEST:
    case OPUS_SET_FORCE_CHANNELS_REQUEST:
    case OPUS_SET_SIGNAL_REQUEST:
    case OPUS_SET_LSB_DEPTH_REQUEST:
    case OPUS_SET_PREDICTION_DISABLED_REQUEST:
      return true;
    default:
      return false;
  }
}

static bool enc_get_ok(int req) {
  if (req != OPUS_SET_LSB_DEPTH_REQUEST + 1 && enc_set_ok(req - 1)) return true;
  switch (req) {
    case OPUS_GET_LSB_DEPTH_REQUEST:
    case OPUS_GET_LOOKAHEAD_REQUEST:
    case OPUS_GET_SAMPLE_RATE_REQUEST:
    case OPUS_GET_FINAL_RANGE_REQUEST:
    case OPUS_GET_IN_DTX_REQUEST:
      return true;
    default:
      return false;
  }
}

// setCtl(request: number, value: number): void
static napi_value enc_set_ctl(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  Enc *e = enc_open(env, self);
  if (!e) return NULL;
  int64_t req, val;
  if (!pn_int(env, argv[0], 0, 100000, "OPUS_ERR_BAD_ARG", "request", &req)) return NULL;
  if (!pn_int(env, argv[1], INT32_MIN, INT32_MAX, "OPUS_ERR_BAD_ARG", "value", &val)) return NULL;
  if (!enc_set_ok((int)req)) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "encoder CTL %lld is not supported", (long long)req);
    return NULL;
  }
  int rc = opus_encoder_ctl(e->enc, (int)req, (opus_int32)val);
  if (rc != OPUS_OK) {
    throw_opus(env, rc, "opus_encoder_ctl");
    return NULL;
  }
  return NULL;
}

// getCtl(request: number): number
static napi_value enc_get_ctl(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Enc *e = enc_open(env, self);
  if (!e) return NULL;
  int64_t req;
  if (!pn_int(env, argv[0], 0, 100000, "OPUS_ERR_BAD_ARG", "request", &req)) return NULL;
  if (!enc_get_ok((int)req)) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "encoder CTL %lld is not supported", (long long)req);
    return NULL;
  }
  opus_int32 v = 0;
  opus_uint32 u = 0;
  int rc = req == OPUS_GET_FINAL_RANGE_REQUEST ? opus_encoder_ctl(e->enc, (int)req, &u)
                                               : opus_encoder_ctl(e->enc, (int)req, &v);
  if (rc != OPUS_OK) {
    throw_opus(env, rc, "opus_encoder_ctl");
    return NULL;
  }
  napi_value r;
  napi_create_double(env, req == OPUS_GET_FINAL_RANGE_REQUEST ? (double)u : (double)v, &r);
  return r;
}

static napi_value enc_reset(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Enc *e = enc_open(env, self);
  if (!e) return NULL;
  opus_encoder_ctl(e->enc, OPUS_RESET_STATE);
  return NULL;
}

static napi_value enc_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Enc *e;
  if (!get_this(env, self, (void **)&e, ENC_MAGIC)) return NULL;
  if (e->enc) opus_encoder_destroy(e->enc);
  e->enc = NULL;
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Decoder

static void dec_finalize(napi_env env, void *data, void *hint) {
  Dec *d = data;
  if (d->dec) opus_decoder_destroy(d->dec);
  free(d);
}

// new NativeOpusDecoder(rate, channels)
static napi_value dec_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  int64_t rate, ch;
  if (!pn_int(env, argv[0], 0, 48000, "OPUS_ERR_BAD_ARG", "sampleRate", &rate)) return NULL;
  if (!valid_rate(rate)) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "sampleRate must be 8000, 12000, 16000, 24000 or 48000 Hz");
    return NULL;
  }
  if (!pn_int(env, argv[1], 1, 2, "OPUS_ERR_BAD_ARG", "channels", &ch)) return NULL;
  int err = OPUS_OK;
  OpusDecoder *od = opus_decoder_create((opus_int32)rate, (int)ch, &err);
  if (err != OPUS_OK || od == NULL) {
    throw_opus(env, err, "opus_decoder_create");
    return NULL;
  }
  Dec *d = calloc(1, sizeof *d);
  if (!d) {
    opus_decoder_destroy(od);
    pn_throw(env, "OPUS_ERR_ALLOC_FAIL", "out of memory");
    return NULL;
  }
  d->magic = DEC_MAGIC;
  d->dec = od;
  d->rate = (int)rate;
  d->channels = (int)ch;
  if (napi_wrap(env, self, d, dec_finalize, NULL, NULL) != napi_ok) {
    dec_finalize(env, d, NULL);
    pn_throw(env, "OPUS_ERR_INTERNAL", "napi_wrap failed");
    return NULL;
  }
  return self;
}

static Dec *dec_open(napi_env env, napi_value self) {
  Dec *d;
  if (!get_this(env, self, (void **)&d, DEC_MAGIC)) return NULL;
  if (d->dec == NULL) {
    pn_throw(env, "OPUS_ERR_CLOSED", "the Opus decoder is closed");
    return NULL;
  }
  return d;
}

// Decodes into a fresh Int16Array of exactly `samples` per channel. `data` NULL means PLC.
static napi_value dec_run(napi_env env, Dec *d, const unsigned char *data, size_t len,
                          int samples, int fec, const char *what) {
  napi_value ab, ta;
  void *pcm;
  size_t count = (size_t)samples * (size_t)d->channels;
  if (napi_create_arraybuffer(env, count * 2, &pcm, &ab) != napi_ok) {
    pn_throw(env, "OPUS_ERR_ALLOC_FAIL", "could not allocate the PCM buffer");
    return NULL;
  }
  int n = opus_decode(d->dec, data, (opus_int32)len, pcm, samples, fec);
  if (n < 0) {
    throw_opus(env, n, what);
    return NULL;
  }
  if (napi_create_typedarray(env, napi_int16_array, (size_t)n * d->channels, ab, 0, &ta) !=
      napi_ok) {
    pn_throw(env, "OPUS_ERR_INTERNAL", "could not create the Int16Array");
    return NULL;
  }
  return ta;
}

static bool dec_packet(napi_env env, Dec *d, napi_value v, unsigned char **data, size_t *len) {
  if (!pn_typed(env, v, napi_uint8_array, "OPUS_ERR_BAD_ARG", "packet", (void **)data, len))
    return false;
  if (*len == 0) {
    pn_throw(env, "OPUS_ERR_INVALID_PACKET", "empty packet (use conceal() for a lost packet)");
    return false;
  }
  if (*len > 1275 * 48) {
    pn_throw(env, "OPUS_ERR_INVALID_PACKET", "packet of %zu bytes is too long", *len);
    return false;
  }
  return true;
}

// decode(packet: Uint8Array): Int16Array
static napi_value dec_decode(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Dec *d = dec_open(env, self);
  if (!d) return NULL;
  unsigned char *data;
  size_t len;
  if (!dec_packet(env, d, argv[0], &data, &len)) return NULL;
  int n = opus_decoder_get_nb_samples(d->dec, data, (opus_int32)len);
  if (n < 0) {
    throw_opus(env, n, "opus_decode");
    return NULL;
  }
  if (n == 0 || n > d->rate / 1000 * 120) {
    pn_throw(env, "OPUS_ERR_INVALID_PACKET", "opus_decode: packet duration out of range");
    return NULL;
  }
  return dec_run(env, d, data, len, n, 0, "opus_decode");
}

static bool dec_missing(napi_env env, Dec *d, napi_value v, int64_t *samples) {
  int q = d->rate / 400;
  if (!pn_int(env, v, 1, (int64_t)q * 48, "OPUS_ERR_BAD_ARG", "missingSamples", samples))
    return false;
  if (*samples % q != 0) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "missingSamples must be a multiple of %d (2.5 ms at %d Hz)",
             q, d->rate);
    return false;
  }
  return true;
}

// decodeFec(nextPacket: Uint8Array, missingSamples: number): Int16Array
static napi_value dec_decode_fec(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  Dec *d = dec_open(env, self);
  if (!d) return NULL;
  unsigned char *data;
  size_t len;
  int64_t samples;
  if (!dec_packet(env, d, argv[0], &data, &len)) return NULL;
  if (!dec_missing(env, d, argv[1], &samples)) return NULL;
  if (opus_packet_get_nb_frames(data, (opus_int32)len) < 0) {
    pn_throw(env, "OPUS_ERR_INVALID_PACKET", "opus_decode: %s",
             opus_strerror(OPUS_INVALID_PACKET));
    return NULL;
  }
  return dec_run(env, d, data, len, (int)samples, 1, "opus_decode (FEC)");
}

// conceal(missingSamples: number): Int16Array
static napi_value dec_conceal(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Dec *d = dec_open(env, self);
  if (!d) return NULL;
  int64_t samples;
  if (!dec_missing(env, d, argv[0], &samples)) return NULL;
  return dec_run(env, d, NULL, 0, (int)samples, 0, "opus_decode (PLC)");
}

static napi_value dec_get_ctl(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Dec *d = dec_open(env, self);
  if (!d) return NULL;
  int64_t req;
  if (!pn_int(env, argv[0], 0, 100000, "OPUS_ERR_BAD_ARG", "request", &req)) return NULL;
  opus_int32 v = 0;
  opus_uint32 u = 0;
  int rc;
  switch (req) {
    case OPUS_GET_LAST_PACKET_DURATION_REQUEST:
    case OPUS_GET_GAIN_REQUEST:
    case OPUS_GET_BANDWIDTH_REQUEST:
    case OPUS_GET_SAMPLE_RATE_REQUEST:
    case OPUS_GET_PITCH_REQUEST:
      rc = opus_decoder_ctl(d->dec, (int)req, &v);
      break;
    case OPUS_GET_FINAL_RANGE_REQUEST:
      rc = opus_decoder_ctl(d->dec, (int)req, &u);
      v = (opus_int32)u;
      break;
    default:
      pn_throw(env, "OPUS_ERR_BAD_ARG", "decoder CTL %lld is not supported", (long long)req);
      return NULL;
  }
  if (rc != OPUS_OK) {
    throw_opus(env, rc, "opus_decoder_ctl");
    return NULL;
  }
  napi_value r;
  napi_create_double(env, req == OPUS_GET_FINAL_RANGE_REQUEST ? (double)u : (double)v, &r);
  return r;
}

static napi_value dec_set_gain(napi_env env, napi_callback_info info) {
  napi_value argv[1], self;
  if (!pn_args(env, info, 1, argv, NULL, &self)) return NULL;
  Dec *d = dec_open(env, self);
  if (!d) return NULL;
  int64_t g;
  if (!pn_int(env, argv[0], -32768, 32767, "OPUS_ERR_BAD_ARG", "gain (Q8 dB)", &g)) return NULL;
  int rc = opus_decoder_ctl(d->dec, OPUS_SET_GAIN((opus_int32)g));
  if (rc != OPUS_OK) throw_opus(env, rc, "opus_decoder_ctl");
  return NULL;
}

static napi_value dec_reset(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Dec *d = dec_open(env, self);
  if (!d) return NULL;
  opus_decoder_ctl(d->dec, OPUS_RESET_STATE);
  return NULL;
}

static napi_value dec_close(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  Dec *d;
  if (!get_this(env, self, (void **)&d, DEC_MAGIC)) return NULL;
  if (d->dec) opus_decoder_destroy(d->dec);
  d->dec = NULL;
  return NULL;
}

// opusPacketInfo(packet): { samples, frames, channels, bandwidth } for a 48 kHz decoder.
static napi_value packet_info(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!pn_args(env, info, 2, argv, NULL, NULL)) return NULL;
  unsigned char *data;
  size_t len;
  int64_t rate;
  if (!pn_typed(env, argv[0], napi_uint8_array, "OPUS_ERR_BAD_ARG", "packet", (void **)&data,
                &len))
    return NULL;
  if (!pn_int(env, argv[1], 0, 48000, "OPUS_ERR_BAD_ARG", "sampleRate", &rate)) return NULL;
  if (!valid_rate(rate)) {
    pn_throw(env, "OPUS_ERR_BAD_ARG", "sampleRate must be 8000, 12000, 16000, 24000 or 48000 Hz");
    return NULL;
  }
  if (len == 0) {
    pn_throw(env, "OPUS_ERR_INVALID_PACKET", "empty packet");
    return NULL;
  }
  int frames = opus_packet_get_nb_frames(data, (opus_int32)len);
  int samples = opus_packet_get_nb_samples(data, (opus_int32)len, (opus_int32)rate);
  int bw = opus_packet_get_bandwidth(data);
  int ch = opus_packet_get_nb_channels(data);
  int bad = frames < 0 ? frames : samples < 0 ? samples : bw < 0 ? bw : ch < 0 ? ch : 0;
  if (bad) {
    throw_opus(env, bad, "opus_packet_parse");
    return NULL;
  }
  napi_value o;
  napi_create_object(env, &o);
  pn_set_num(env, o, "frames", frames);
  pn_set_num(env, o, "samples", samples);
  pn_set_num(env, o, "channels", ch);
  pn_set_num(env, o, "bandwidth", bw);
  return o;
}

napi_value pn_opus_init(napi_env env, napi_value exports) {
  napi_property_descriptor ep[] = {
      {"encode", NULL, enc_encode, NULL, NULL, NULL, napi_default, NULL},
      {"encodeInto", NULL, enc_encode_into, NULL, NULL, NULL, napi_default, NULL},
      {"setCtl", NULL, enc_set_ctl, NULL, NULL, NULL, napi_default, NULL},
      {"getCtl", NULL, enc_get_ctl, NULL, NULL, NULL, napi_default, NULL},
      {"reset", NULL, enc_reset, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, enc_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value ecls;
  napi_define_class(env, "NativeOpusEncoder", NAPI_AUTO_LENGTH, enc_new, NULL,
                    sizeof ep / sizeof ep[0], ep, &ecls);
  napi_set_named_property(env, exports, "NativeOpusEncoder", ecls);

  napi_property_descriptor dp[] = {
      {"decode", NULL, dec_decode, NULL, NULL, NULL, napi_default, NULL},
      {"decodeFec", NULL, dec_decode_fec, NULL, NULL, NULL, napi_default, NULL},
      {"conceal", NULL, dec_conceal, NULL, NULL, NULL, napi_default, NULL},
      {"getCtl", NULL, dec_get_ctl, NULL, NULL, NULL, napi_default, NULL},
      {"setGain", NULL, dec_set_gain, NULL, NULL, NULL, napi_default, NULL},
      {"reset", NULL, dec_reset, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, dec_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value dcls;
  napi_define_class(env, "NativeOpusDecoder", NAPI_AUTO_LENGTH, dec_new, NULL,
                    sizeof dp / sizeof dp[0], dp, &dcls);
  napi_set_named_property(env, exports, "NativeOpusDecoder", dcls);

  napi_value fn;
  napi_create_function(env, "opusPacketInfo", NAPI_AUTO_LENGTH, packet_info, NULL, &fn);
  napi_set_named_property(env, exports, "opusPacketInfo", fn);
  return exports;
}
