#ifndef LMTRAIN_CFUZZER_H
#define LMTRAIN_CFUZZER_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, called from Swift's main (SwiftPM gives every executable its own renamed main, so
// libFuzzer's cannot be used): parses libFuzzer's flags from argv and runs `callback` on each input.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
