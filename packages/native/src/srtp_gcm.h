// SRTP AES-GCM helpers of srtp.c (RFC 7714 §8) for the other parts of the addon that seal RTP
// off the JavaScript thread (sender.c).
#ifndef PARLOIR_SRTP_GCM_H
#define PARLOIR_SRTP_GCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

#define PN_GCM_TAG_LEN 16
#define PN_GCM_SALT_LEN 12

// An encrypting AES-GCM context for a 16- or 32-byte session key (the key schedule is computed
// once here). NULL on failure. Free with pn_gcm_free.
EVP_CIPHER_CTX *pn_gcm_new_encrypt(const uint8_t *key, size_t key_len);
// A decrypting one, for pn_gcm_open.
EVP_CIPHER_CTX *pn_gcm_new_decrypt(const uint8_t *key, size_t key_len);
void pn_gcm_free(EVP_CIPHER_CTX *ctx);

// Writes header || AES-GCM(payload) || tag into `out` (room for hl + pl + 16 bytes), the header
// as AAD and the IV from the header's SSRC and SEQ, `roc` and `salt` (RFC 7714 §8.1–8.2).
// `out` may not overlap the inputs. Returns false if OpenSSL failed.
bool pn_gcm_seal(EVP_CIPHER_CTX *ctx, const uint8_t salt[PN_GCM_SALT_LEN], const uint8_t *hdr,
                 size_t hl, const uint8_t *payload, size_t pl, uint32_t roc, uint8_t *out);

// Verifies and decrypts an SRTP packet of `len` bytes whose RTP header is `hl` bytes: writes
// header || plaintext into `out` (room for len - 16 bytes; may not overlap `pkt`). Returns 1 if
// the tag verified, 0 if not (nothing usable in `out`, RFC 7714 §8.3), -1 on bad lengths or an
// OpenSSL failure.
int pn_gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t salt[PN_GCM_SALT_LEN], const uint8_t *pkt,
                size_t len, size_t hl, uint32_t roc, uint8_t *out);

#endif
