// The only file that includes ICU. Compiled against the normal headers so ICU's symbol renaming
// (ubrk_open -> ubrk_open_72) works as ICU intends; see include/cicu.h for why.
#include "cicu.h"

#include <stdlib.h>
#include <string.h>
#include <unicode/ubrk.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utext.h>
#include <unicode/uversion.h>

void lmt_free(void *p) { free(p); }

const char *lmt_error_name(int32_t code) { return u_errorName((UErrorCode)code); }

const char *lmt_icu_version(void) {
    static char version[U_MAX_VERSION_STRING_LENGTH];
    UVersionInfo info;
    u_getVersion(info);
    u_versionToString(info, version);
    return version;
}

static int is_ascii(const char *s, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

int32_t lmt_normalize_utf8(lmt_norm_form form, const char *src, int32_t src_len,
                           char **out, int32_t *out_len) {
    *out = NULL;
    *out_len = 0;
    // ASCII is stable under NFC and NFKC, and most lines of an English corpus are ASCII:
    // skip the two UTF-16 conversions for them.
    if (form == LMT_NORM_NONE || is_ascii(src, src_len)) {
        char *copy = malloc((size_t)src_len + 1);
        if (!copy) return U_MEMORY_ALLOCATION_ERROR;
        memcpy(copy, src, (size_t)src_len);
        copy[src_len] = 0;
        *out = copy;
        *out_len = src_len;
        return 0;
    }
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2 *norm =
        form == LMT_NORM_NFC ? unorm2_getNFCInstance(&err) : unorm2_getNFKCInstance(&err);
    if (U_FAILURE(err)) return err;

    int32_t u16_len = 0;
    u_strFromUTF8(NULL, 0, &u16_len, src, src_len, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) err = U_ZERO_ERROR;
    if (U_FAILURE(err)) return err;
    UChar *u16 = malloc(sizeof(UChar) * ((size_t)u16_len + 1));
    if (!u16) return U_MEMORY_ALLOCATION_ERROR;
    u_strFromUTF8(u16, u16_len + 1, NULL, src, src_len, &err);
    if (U_FAILURE(err)) { free(u16); return err; }

    // NFKC can expand a string (e.g. U+FDFA becomes 18 code units); ask for the size first.
    int32_t n_len = unorm2_normalize(norm, u16, u16_len, NULL, 0, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) err = U_ZERO_ERROR;
    if (U_FAILURE(err)) { free(u16); return err; }
    UChar *n16 = malloc(sizeof(UChar) * ((size_t)n_len + 1));
    if (!n16) { free(u16); return U_MEMORY_ALLOCATION_ERROR; }
    unorm2_normalize(norm, u16, u16_len, n16, n_len + 1, &err);
    free(u16);
    if (U_FAILURE(err)) { free(n16); return err; }

    int32_t u8_len = 0;
    u_strToUTF8(NULL, 0, &u8_len, n16, n_len, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) err = U_ZERO_ERROR;
    if (U_FAILURE(err)) { free(n16); return err; }
    char *u8 = malloc((size_t)u8_len + 1);
    if (!u8) { free(n16); return U_MEMORY_ALLOCATION_ERROR; }
    u_strToUTF8(u8, u8_len + 1, NULL, n16, n_len, &err);
    free(n16);
    if (U_FAILURE(err)) { free(u8); return err; }
    *out = u8;
    *out_len = u8_len;
    return 0;
}

struct lmt_segmenter {
    UBreakIterator *brk;
    UText *text;
};

lmt_segmenter *lmt_segmenter_open(int32_t *error) {
    UErrorCode err = U_ZERO_ERROR;
    // The root locale: word-break rules are language-neutral except for dictionary scripts.
    UBreakIterator *brk = ubrk_open(UBRK_WORD, "", NULL, 0, &err);
    if (U_FAILURE(err)) { *error = err; return NULL; }
    lmt_segmenter *s = calloc(1, sizeof(lmt_segmenter));
    if (!s) { ubrk_close(brk); *error = U_MEMORY_ALLOCATION_ERROR; return NULL; }
    s->brk = brk;
    *error = 0;
    return s;
}

void lmt_segmenter_close(lmt_segmenter *s) {
    if (!s) return;
    if (s->text) utext_close(s->text);
    ubrk_close(s->brk);
    free(s);
}

int32_t lmt_segment_utf8(lmt_segmenter *s, const char *src, int32_t src_len,
                         int32_t *bounds, int32_t cap) {
    UErrorCode err = U_ZERO_ERROR;
    // UText over UTF-8 avoids a UTF-16 copy, and its native indices are byte offsets.
    // The UText is reused (passed back in) so no allocation happens per line.
    s->text = utext_openUTF8(s->text, src, src_len, &err);
    if (U_FAILURE(err)) return -(int32_t)err;
    ubrk_setUText(s->brk, s->text, &err);
    if (U_FAILURE(err)) return -(int32_t)err;
    int32_t n = 0;
    for (int32_t b = ubrk_first(s->brk); b != UBRK_DONE; b = ubrk_next(s->brk)) {
        if (n < cap) bounds[n] = b;
        n++;
    }
    return n;
}
