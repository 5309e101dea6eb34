#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
#include <stddef.h>

// Error-trapping wrappers around libjpeg(-turbo) and libpng. libjpeg's and libpng's default error
// handlers exit the process or longjmp; here every error is caught in C (setjmp/longjmp never
// crosses into Swift) and reported as a status plus a message.

/// Limits checked against a file's header before any pixel memory is allocated.
typedef struct {
    int max_width;
    int max_height;
    long long max_pixels;
} ic_limits;

/// A decoded 8-bit image: `channels` is 1 (gray), 3 (RGB) or 4 (RGBA); pixels are HWC, malloc'd.
typedef struct {
    unsigned char *pixels;
    int width;
    int height;
    int channels;
    int source_bit_depth;   // bits per sample in the file (PNG 1/2/4/8/16, JPEG 8)
    int warnings;           // number of non-fatal decoder warnings that were ignored
    char message[256];      // the error on failure; the last ignored warning otherwise
} ic_image;

/// An encoded file in memory (malloc'd).
typedef struct {
    unsigned char *bytes;
    size_t size;
    char message[256];
} ic_buffer;

/// Returns 0 on success; otherwise fills out->message.
/// Two calls decode an image straight into the caller's final buffer: with `pixels == NULL` only the
/// header is read and checked against `limits`, and out->width/height/channels give the decoded
/// size; then, with `pixels` pointing at `capacity == width * height * channels` bytes, the image is
/// decoded into it (out->pixels is set to `pixels`; the caller owns and frees it in every case).
int ic_png_decode(const unsigned char *data, size_t size, ic_limits limits,
                  unsigned char *pixels, size_t capacity, ic_image *out);
int ic_jpeg_decode(const unsigned char *data, size_t size, ic_limits limits,
                   unsigned char *pixels, size_t capacity, ic_image *out);
int ic_png_encode(const unsigned char *pixels, int width, int height, int channels,
                  int compression_level, ic_buffer *out);
int ic_jpeg_encode(const unsigned char *pixels, int width, int height, int channels,
                   int quality, ic_buffer *out);
/// Reads only the header: width, height and channels (0 on success).
int ic_probe(const unsigned char *data, size_t size, ic_image *out);
void ic_free(void *pointer);

#endif
