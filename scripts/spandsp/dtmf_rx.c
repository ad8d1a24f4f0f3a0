/* spandsp's DTMF receiver over headerless 8 kHz s16le audio, for comparison with
 * `tonegate detect`: reads the file (or standard input) in 20 ms frames, hands each to
 * dtmf_rx, and prints every digit on its own line. Built by scripts/bench-vs-spandsp.
 *
 *   cc -O2 -o dtmf_rx dtmf_rx.c -lspandsp && ./dtmf_rx keys.raw
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <spandsp.h>

#define FRAME 160

static void on_digits(void *user_data, const char *digits, int len)
{
    FILE *out = user_data;
    for (int i = 0; i < len; i++)
        fprintf(out, "%c\n", digits[i]);
}

int main(int argc, char **argv)
{
    FILE *in = argc > 1 ? fopen(argv[1], "rb") : stdin;
    if (in == NULL) {
        perror(argv[1]);
        return 2;
    }
    dtmf_rx_state_t *rx = dtmf_rx_init(NULL, on_digits, stdout);
    if (rx == NULL)
        return 1;
    int16_t frame[FRAME];
    size_t read;
    while ((read = fread(frame, sizeof frame[0], FRAME, in)) > 0)
        dtmf_rx(rx, frame, (int) read);
    dtmf_rx_free(rx);
    return 0;
}
