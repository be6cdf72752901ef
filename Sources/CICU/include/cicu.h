// A small C API over ICU. No ICU header is included here on purpose: Swift modules that also import
// Foundation (which carries its own ICU) fail to compile if they can see ICU's C types, and ICU's
// versioned symbol names (ubrk_open_72) cannot be reached from Swift. Only this shim sees ICU.
#ifndef LMTRAIN_CICU_H
#define LMTRAIN_CICU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Normalisation forms the tokenizer offers.
typedef enum { LMT_NORM_NONE = 0, LMT_NORM_NFC = 1, LMT_NORM_NFKC = 2 } lmt_norm_form;

/// Normalises UTF-8 text. On success returns 0 and sets *out (malloc'd, caller frees with lmt_free)
/// and *out_len (bytes). On failure returns a positive ICU error code; lmt_error_name names it.
/// src: [src_len] bytes of valid UTF-8.
int32_t lmt_normalize_utf8(lmt_norm_form form, const char *src, int32_t src_len,
                           char **out, int32_t *out_len);

void lmt_free(void *p);

/// Name of an ICU error code (static string).
const char *lmt_error_name(int32_t code);

/// A word-break iterator. Not thread-safe: open one per thread.
typedef struct lmt_segmenter lmt_segmenter;

/// Opens a Unicode word-break iterator (root locale, dictionary segmentation for CJK).
/// Returns NULL and sets *error (positive) on failure.
lmt_segmenter *lmt_segmenter_open(int32_t *error);
void lmt_segmenter_close(lmt_segmenter *s);

/// Finds word-break boundaries of UTF-8 text, as byte offsets.
/// bounds: [cap] output; receives every boundary, the first 0 and the last src_len.
/// Returns the number of boundaries; if that is more than cap, only cap were written and the
/// caller retries with a larger buffer. Returns a negative ICU error code on failure.
int32_t lmt_segment_utf8(lmt_segmenter *s, const char *src, int32_t src_len,
                         int32_t *bounds, int32_t cap);

/// ICU's version string, e.g. "72.1".
const char *lmt_icu_version(void);

#ifdef __cplusplus
}
#endif
#endif
