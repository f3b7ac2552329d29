// SRTP AEAD_AES_128_GCM / AEAD_AES_256_GCM for RTP packets (RFC 7714 §8, §16), on the OpenSSL
// that the Node binary exports. Node's `createCipheriv` builds a native cipher object, imports
// the key and expands the AES key schedule on every call; for SRTP that is once per packet. Here
// one EVP_CIPHER_CTX per direction keeps the key schedule and each packet only sets a new IV.
//
// Not linked against -lcrypto: the addon resolves EVP_* against the symbols the node executable
// exports, so it uses the same OpenSSL as node:crypto and no second copy clashes with it.
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "srtp_gcm.h"

#define TAG_LEN 16
#define IV_LEN 12
#define MIN_RTP_HEADER 12

typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  uint8_t salt[IV_LEN];
  bool closed;
} pn_srtp;

static void srtp_close(pn_srtp *s) {
  if (s->closed) return;
  s->closed = true;
  EVP_CIPHER_CTX_free(s->enc); // also wipes the key schedule
  EVP_CIPHER_CTX_free(s->dec);
  s->enc = NULL;
  s->dec = NULL;
  OPENSSL_cleanse(s->salt, sizeof s->salt);
}

static void srtp_finalize(napi_env env, void *data, void *hint) {
  srtp_close(data);
  free(data);
}

static pn_srtp *unwrap(napi_env env, napi_value self) {
  pn_srtp *s = NULL;
  if (napi_unwrap(env, self, (void **)&s) != napi_ok || s == NULL) {
    pn_throw(env, "SRTP_ERR_BAD_ARG", "not a NativeSrtpGcm");
    return NULL;
  }
  if (s->closed) {
    pn_throw(env, "SRTP_ERR_CLOSED", "the SRTP cipher is closed");
    return NULL;
  }
  return s;
}

// RFC 7714 §8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt, SSRC and SEQ read from the RTP
// header (octets 8..11 and 2..3).
static void rtp_iv(const uint8_t salt[IV_LEN], const uint8_t *header, uint32_t roc, uint8_t iv[IV_LEN]) {
  iv[0] = 0;
  iv[1] = 0;
  memcpy(iv + 2, header + 8, 4);
  iv[6] = (uint8_t)(roc >> 24);
  iv[7] = (uint8_t)(roc >> 16);
  iv[8] = (uint8_t)(roc >> 8);
  iv[9] = (uint8_t)roc;
  iv[10] = header[2];
  iv[11] = header[3];
  for (int i = 0; i < IV_LEN; i++) iv[i] ^= salt[i];
}

static EVP_CIPHER_CTX *new_ctx(const EVP_CIPHER *cipher, const uint8_t *key, int encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return NULL;
  // Cipher first, then the IV length (12 is GCM's default, set anyway), then the key alone: the
  // key schedule is computed once here and kept across the per-packet IV-only inits.
  if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IV_LEN, NULL) != 1 ||
      EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, encrypt) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

EVP_CIPHER_CTX *pn_gcm_new_encrypt(const uint8_t *key, size_t key_len) {
  if (key_len != 16 && key_len != 32) return NULL;
  return new_ctx(key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), key, 1);
}

EVP_CIPHER_CTX *pn_gcm_new_decrypt(const uint8_t *key, size_t key_len) {
  if (key_len != 16 && key_len != 32) return NULL;
  return new_ctx(key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), key, 0);
}

void pn_gcm_free(EVP_CIPHER_CTX *ctx) { EVP_CIPHER_CTX_free(ctx); }

int pn_gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t salt[IV_LEN], const uint8_t *pkt, size_t len,
                size_t hl, uint32_t roc, uint8_t *out) {
  if (hl < MIN_RTP_HEADER || len > INT32_MAX / 2 || hl + TAG_LEN > len) return -1;
  size_t cl = len - hl - TAG_LEN;
  uint8_t iv[IV_LEN];
  rtp_iv(salt, pkt, roc, iv);
  uint8_t tag[TAG_LEN];
  memcpy(tag, pkt + len - TAG_LEN, TAG_LEN);
  memcpy(out, pkt, hl);
  int n = 0, fin = 0;
  if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
      EVP_DecryptUpdate(ctx, NULL, &n, pkt, (int)hl) != 1 ||
      (cl > 0 && EVP_DecryptUpdate(ctx, out + hl, &n, pkt + hl, (int)cl) != 1))
    return -1;
  if (EVP_DecryptFinal_ex(ctx, out + hl + cl, &fin) != 1) {
    OPENSSL_cleanse(out + hl, cl);  // no unauthenticated plaintext left behind
    return 0;
  }
  return 1;
}

bool pn_gcm_seal(EVP_CIPHER_CTX *ctx, const uint8_t salt[IV_LEN], const uint8_t *hdr, size_t hl,
                 const uint8_t *payload, size_t pl, uint32_t roc, uint8_t *out) {
  if (hl < MIN_RTP_HEADER || hl > INT32_MAX / 2 || pl > INT32_MAX / 2) return false;
  uint8_t iv[IV_LEN];
  rtp_iv(salt, hdr, roc, iv);
  memcpy(out, hdr, hl);
  int n = 0, fin = 0;
  return EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1 &&
         EVP_EncryptUpdate(ctx, NULL, &n, hdr, (int)hl) == 1 &&
         (pl == 0 || EVP_EncryptUpdate(ctx, out + hl, &n, payload, (int)pl) == 1) &&
         EVP_EncryptFinal_ex(ctx, out + hl + pl, &fin) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + hl + pl) == 1;
}

// new NativeSrtpGcm(key: Uint8Array(16 | 32), salt: Uint8Array(12))
static napi_value srtp_new(napi_env env, napi_callback_info info) {
  napi_value argv[2], self;
  if (!pn_args(env, info, 2, argv, NULL, &self)) return NULL;
  uint8_t *key, *salt;
  size_t key_len, salt_len;
  if (!pn_typed(env, argv[0], napi_uint8_array, "SRTP_ERR_BAD_ARG", "key", (void **)&key,
                &key_len) ||
      !pn_typed(env, argv[1], napi_uint8_array, "SRTP_ERR_BAD_ARG", "salt", (void **)&salt,
                &salt_len))
    return NULL;
  if (key_len != 16 && key_len != 32) {
    pn_throw(env, "SRTP_ERR_BAD_ARG", "key must be 16 or 32 bytes, got %zu", key_len);
    return NULL;
  }
  if (salt_len != IV_LEN) {
    pn_throw(env, "SRTP_ERR_BAD_ARG", "salt must be %d bytes, got %zu", IV_LEN, salt_len);
    return NULL;
  }
  pn_srtp *s = calloc(1, sizeof *s);
  if (s == NULL) {
    pn_throw(env, "SRTP_ERR_INTERNAL", "out of memory");
    return NULL;
  }
  const EVP_CIPHER *cipher = key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
  s->enc = new_ctx(cipher, key, 1);
  s->dec = new_ctx(cipher, key, 0);
  memcpy(s->salt, salt, IV_LEN);
  if (s->enc == NULL || s->dec == NULL) {
    srtp_close(s);
    free(s);
    pn_throw(env, "SRTP_ERR_INTERNAL", "cannot set up AES-GCM");
    return NULL;
  }
  if (napi_wrap(env, self, s, srtp_finalize, NULL, NULL) != napi_ok) {
    srtp_close(s);
    free(s);
    pn_throw(env, "SRTP_ERR_INTERNAL", "napi_wrap failed");
    return NULL;
  }
  return self;
}

static bool read_roc(napi_env env, napi_value v, uint32_t *roc) {
  int64_t x;
  if (!pn_int(env, v, 0, UINT32_MAX, "SRTP_ERR_BAD_ARG", "rolloverCounter", &x)) return false;
  *roc = (uint32_t)x;
  return true;
}

// sealRtp(header: Uint8Array, payload: Uint8Array, rolloverCounter: number) → Buffer
// Returns header || AES-GCM(payload) || 16-byte tag, the header as AAD (RFC 7714 §8.2).
static napi_value srtp_seal(napi_env env, napi_callback_info info) {
  napi_value argv[3], self;
  if (!pn_args(env, info, 3, argv, NULL, &self)) return NULL;
  pn_srtp *s = unwrap(env, self);
  if (s == NULL) return NULL;
  uint8_t *hdr, *payload;
  size_t hl, pl;
  uint32_t roc;
  if (!pn_typed(env, argv[0], napi_uint8_array, "SRTP_ERR_BAD_ARG", "header", (void **)&hdr,
                &hl) ||
      !pn_typed(env, argv[1], napi_uint8_array, "SRTP_ERR_BAD_ARG", "payload", (void **)&payload,
                &pl) ||
      !read_roc(env, argv[2], &roc))
    return NULL;
  if (hl < MIN_RTP_HEADER) {
    pn_throw(env, "SRTP_ERR_BAD_ARG", "header must be 12 bytes or more, got %zu", hl);
    return NULL;
  }
  if (hl > INT32_MAX / 2 || pl > INT32_MAX / 2) {
    pn_throw(env, "SRTP_ERR_BAD_ARG", "packet too large (%zu + %zu bytes)", hl, pl);
    return NULL;
  }
  napi_value result;
  uint8_t *out;
  if (napi_create_buffer(env, hl + pl + TAG_LEN, (void **)&out, &result) != napi_ok) {
    pn_throw(env, "SRTP_ERR_INTERNAL", "cannot allocate the output");
    return NULL;
  }
  if (!pn_gcm_seal(s->enc, s->salt, hdr, hl, payload, pl, roc, out)) {
    pn_throw(env, "SRTP_ERR_INTERNAL", "AES-GCM encryption failed");
    return NULL;
  }
  return result;
}

// openRtp(packet: Uint8Array, headerLength: number, rolloverCounter: number) → Buffer | null
// Verifies the tag over header || ciphertext and returns header || plaintext; null if the tag
// does not verify (RFC 7714 §8.3).
static napi_value srtp_open(napi_env env, napi_callback_info info) {
  napi_value argv[3], self;
  if (!pn_args(env, info, 3, argv, NULL, &self)) return NULL;
  pn_srtp *s = unwrap(env, self);
  if (s == NULL) return NULL;
  uint8_t *pkt;
  size_t len;
  int64_t hl;
  uint32_t roc;
  if (!pn_typed(env, argv[0], napi_uint8_array, "SRTP_ERR_BAD_ARG", "packet", (void **)&pkt,
                &len) ||
      !pn_int(env, argv[1], MIN_RTP_HEADER, INT32_MAX / 2, "SRTP_ERR_BAD_ARG", "headerLength",
              &hl) ||
      !read_roc(env, argv[2], &roc))
    return NULL;
  if (len > INT32_MAX / 2 || (size_t)hl + TAG_LEN > len) {
    pn_throw(env, "SRTP_ERR_BAD_ARG",
             "packet of %zu bytes is shorter than its %lld-byte header and the %d-byte tag", len,
             (long long)hl, TAG_LEN);
    return NULL;
  }
  size_t cl = len - (size_t)hl - TAG_LEN;
  napi_value result;
  uint8_t *out;
  if (napi_create_buffer(env, (size_t)hl + cl, (void **)&out, &result) != napi_ok) {
    pn_throw(env, "SRTP_ERR_INTERNAL", "cannot allocate the output");
    return NULL;
  }
  int rc = pn_gcm_open(s->dec, s->salt, pkt, len, (size_t)hl, roc, out);
  if (rc < 0) {
    pn_throw(env, "SRTP_ERR_INTERNAL", "AES-GCM decryption failed");
    return NULL;
  }
  if (rc == 0) {
    napi_value null;
    napi_get_null(env, &null);
    return null;
  }
  return result;
}

static napi_value srtp_close_js(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!pn_args(env, info, 0, NULL, NULL, &self)) return NULL;
  pn_srtp *s = NULL;
  if (napi_unwrap(env, self, (void **)&s) == napi_ok && s != NULL) srtp_close(s);
  return NULL;
}

napi_value pn_srtp_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"sealRtp", NULL, srtp_seal, NULL, NULL, NULL, napi_default, NULL},
      {"openRtp", NULL, srtp_open, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, srtp_close_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  napi_define_class(env, "NativeSrtpGcm", NAPI_AUTO_LENGTH, srtp_new, NULL,
                    sizeof methods / sizeof methods[0], methods, &cls);
  napi_set_named_property(env, exports, "NativeSrtpGcm", cls);
  return exports;
}
