#include "CImageCodecs.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
    char *message;
    int warnings;
} png_reader;

static void ic_png_error(png_structp png, png_const_charp msg) {
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    if (r && r->message) {
        char previous[256];
        snprintf(previous, sizeof previous, "%s", r->message);
        if (strncmp(previous, "warning: ", 9) == 0)
            snprintf(r->message, 256, "%s (after %s)", msg, previous);
        else
            snprintf(r->message, 256, "%s", msg);
    }
    png_longjmp(png, 1);
}

static void ic_png_warning(png_structp png, png_const_charp msg) {
    png_reader *r = (png_reader *)png_get_error_ptr(png);
    if (r) {
        r->warnings++;
        if (r->message) snprintf(r->message, 256, "warning: %s", msg);
    }
}

// Reads from the memory buffer; running past its end is an error, never an out-of-bounds read.
static void ic_png_read(png_structp png, png_bytep dest, png_size_t length) {
    png_reader *r = (png_reader *)png_get_io_ptr(png);
    if (length > r->size - r->offset) png_error(png, "file is truncated (unexpected end of data)");
    memcpy(dest, r->data + r->offset, length);
    r->offset += length;
}

int ic_png_decode(const unsigned char *data, size_t size, ic_limits limits,
                  unsigned char *pixels, size_t capacity, ic_image *out) {
    memset(out, 0, sizeof(*out));
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(out->message, sizeof out->message, "not a PNG file (bad signature)");
        return 1;
    }
    png_reader reader = { data, size, 0, out->message, 0 };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, ic_png_error, ic_png_warning);
    if (!png) { snprintf(out->message, sizeof out->message, "out of memory"); return 1; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(out->message, sizeof out->message, "out of memory");
        return 1;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        if (out->message[0] == 0) snprintf(out->message, sizeof out->message, "corrupt PNG data");
        out->pixels = NULL;
        return 1;
    }
    png_set_read_fn(png, &reader, ic_png_read);
    // libpng's own width/height limit (1,000,000) stays as a backstop; ours is checked below with
    // a clearer message, before any pixel memory is allocated.
    png_set_chunk_malloc_max(png, 16u << 20);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    int color_type = png_get_color_type(png, info);
    if ((long long)width > limits.max_width || (long long)height > limits.max_height ||
        (long long)width * (long long)height > limits.max_pixels) {
        snprintf(out->message, sizeof out->message, "image is %ux%u, larger than the limit %dx%d (%lld pixels)",
                 width, height, limits.max_width, limits.max_height, limits.max_pixels);
        png_longjmp(png, 1);
    }
    out->source_bit_depth = bit_depth;

    // Normalise every variant to 8-bit gray, RGB or RGBA.
    if (bit_depth == 16) png_set_strip_16(png);        // keeps the high byte, as PIL does
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (has_trns) png_set_tRNS_to_alpha(png);
    int gray = (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA);
    int alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_trns;
    if (gray && alpha) png_set_gray_to_rgb(png);     // gray+alpha becomes RGBA
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    if (channels != 1 && channels != 3 && channels != 4) {
        snprintf(out->message, sizeof out->message, "unsupported PNG layout (%d channels)", channels);
        png_longjmp(png, 1);
    }
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)width * (size_t)channels) {
        snprintf(out->message, sizeof out->message, "unexpected PNG row size %zu", rowbytes);
        png_longjmp(png, 1);
    }
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    if (!pixels) {  // header only: the caller allocates the final buffer and calls again
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    if (capacity != rowbytes * height) {
        snprintf(out->message, sizeof out->message, "buffer of %zu bytes for a %ux%ux%d image", capacity, width, height, channels);
        png_longjmp(png, 1);
    }
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) {
        snprintf(out->message, sizeof out->message, "out of memory for a %ux%u image", width, height);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->pixels = pixels;
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->warnings = reader.warnings;
    return 0;
}

typedef struct {
    unsigned char *bytes;
    size_t size;
    size_t capacity;
    int failed;
} png_writer;

static void ic_png_write(png_structp png, png_bytep src, png_size_t length) {
    png_writer *w = (png_writer *)png_get_io_ptr(png);
    if (w->size + length > w->capacity) {
        size_t capacity = w->capacity ? w->capacity : 4096;
        while (capacity < w->size + length) capacity *= 2;
        unsigned char *grown = realloc(w->bytes, capacity);
        if (!grown) png_error(png, "out of memory while encoding");
        w->bytes = grown;
        w->capacity = capacity;
    }
    memcpy(w->bytes + w->size, src, length);
    w->size += length;
}

static void ic_png_flush(png_structp png) { (void)png; }

int ic_png_encode(const unsigned char *pixels, int width, int height, int channels,
                  int compression_level, ic_buffer *out) {
    memset(out, 0, sizeof(*out));
    int color_type;
    switch (channels) {
    case 1: color_type = PNG_COLOR_TYPE_GRAY; break;
    case 3: color_type = PNG_COLOR_TYPE_RGB; break;
    case 4: color_type = PNG_COLOR_TYPE_RGB_ALPHA; break;
    default:
        snprintf(out->message, sizeof out->message, "cannot write %d channels as PNG", channels);
        return 1;
    }
    png_reader errors = { NULL, 0, 0, out->message, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &errors, ic_png_error, ic_png_warning);
    if (!png) { snprintf(out->message, sizeof out->message, "out of memory"); return 1; }
    png_infop info = png_create_info_struct(png);
    png_writer writer = { NULL, 0, 0, 0 };
    png_writer *volatile wp = &writer;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(wp->bytes);
        png_destroy_write_struct(&png, info ? &info : NULL);
        if (out->message[0] == 0) snprintf(out->message, sizeof out->message, "PNG encoding failed");
        return 1;
    }
    png_set_write_fn(png, &writer, ic_png_write, ic_png_flush);
    png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * (size_t)width * (size_t)channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    out->bytes = writer.bytes;
    out->size = writer.size;
    return 0;
}

void ic_free(void *pointer) { free(pointer); }
