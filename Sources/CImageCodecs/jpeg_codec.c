#include "CImageCodecs.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

// Progressive files can hold thousands of tiny scans that take minutes to decode; real encoders
// write about ten. Refusing more than this keeps hostile files from hanging the loader.
#define IC_MAX_SCANS 500

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
    int warnings;
} ic_jpeg_error;

static void ic_jpeg_error_exit(j_common_ptr cinfo) {
    ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(err->message, 256, "%s", text);
    longjmp(err->jump, 1);
}

// Warnings that mean pixels were invented (truncated or damaged entropy-coded data) are treated
// as errors: silently training on grey padding is worse than being told the file is damaged.
static int ic_jpeg_warning_is_fatal(int code) {
    return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC ||
           code == JWRN_HUFF_BAD_CODE || code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION;
}

static void ic_jpeg_emit_message(j_common_ptr cinfo, int level) {
    ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
    if (level >= 0) return;  // trace messages
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    if (ic_jpeg_warning_is_fatal(cinfo->err->msg_code)) {
        snprintf(err->message, 256, "%s", text);
        longjmp(err->jump, 1);
    }
    err->warnings++;
    snprintf(err->message, 256, "warning: %s", text);
}

static void ic_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }  // never print to stderr

static void ic_jpeg_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > IC_MAX_SCANS) {
            ic_jpeg_error *err = (ic_jpeg_error *)cinfo->err;
            snprintf(err->message, 256, "progressive JPEG has more than %d scans (hostile or broken file)",
                     IC_MAX_SCANS);
            longjmp(err->jump, 1);
        }
    }
}

static void ic_jpeg_install(struct jpeg_error_mgr *pub, ic_jpeg_error *err, char *message) {
    jpeg_std_error(pub);
    pub->error_exit = ic_jpeg_error_exit;
    pub->emit_message = ic_jpeg_emit_message;
    pub->output_message = ic_jpeg_output_message;
    err->message = message;
    err->warnings = 0;
}

int ic_jpeg_decode(const unsigned char *data, size_t size, ic_limits limits,
                   unsigned char *pixels, size_t capacity, ic_image *out) {
    memset(out, 0, sizeof(*out));
    if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(out->message, sizeof out->message, "not a JPEG file (bad signature)");
        return 1;
    }
    struct jpeg_decompress_struct cinfo;
    ic_jpeg_error err;
    struct jpeg_progress_mgr progress;
    cinfo.err = &err.pub;
    ic_jpeg_install(&err.pub, &err, out->message);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        out->pixels = NULL;
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = ic_jpeg_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    if ((int)cinfo.image_width > limits.max_width || (int)cinfo.image_height > limits.max_height ||
        (long long)cinfo.image_width * (long long)cinfo.image_height > limits.max_pixels) {
        snprintf(out->message, sizeof out->message, "image is %ux%u, larger than the limit %dx%d (%lld pixels)",
                 cinfo.image_width, cinfo.image_height, limits.max_width, limits.max_height, limits.max_pixels);
        longjmp(err.jump, 1);
    }
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        snprintf(out->message, sizeof out->message,
                 "CMYK/YCCK JPEG is not supported; convert it to RGB first (e.g. `convert in.jpg -colorspace sRGB out.jpg`)");
        longjmp(err.jump, 1);
    default:
        cinfo.out_color_space = JCS_RGB;
    }
    // The output size is known from the header; jpeg_start_decompress would already read a
    // progressive file's whole scan data, which the header-only call must not do.
    jpeg_calc_output_dimensions(&cinfo);
    int channels = cinfo.output_components;
    if (channels != 1 && channels != 3) {
        snprintf(out->message, sizeof out->message, "unsupported JPEG layout (%d components)", channels);
        longjmp(err.jump, 1);
    }
    size_t stride = (size_t)cinfo.output_width * (size_t)channels;
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = channels;
    if (!pixels) {  // header only: the caller allocates the final buffer and calls again
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    if (capacity != stride * cinfo.output_height) {
        snprintf(out->message, sizeof out->message, "buffer of %zu bytes for a %ux%ux%d image",
                 capacity, cinfo.output_width, cinfo.output_height, channels);
        longjmp(err.jump, 1);
    }
    jpeg_start_decompress(&cinfo);
    if ((size_t)cinfo.output_width * (size_t)cinfo.output_components * cinfo.output_height != capacity) {
        snprintf(out->message, sizeof out->message, "JPEG output size changed while decoding");
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(out->message, sizeof out->message, "decoder stalled at row %u", cinfo.output_scanline);
            longjmp(err.jump, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = channels;
    out->source_bit_depth = cinfo.data_precision;
    out->warnings = err.warnings;
    jpeg_destroy_decompress(&cinfo);
    out->pixels = pixels;
    return 0;
}

int ic_jpeg_encode(const unsigned char *pixels, int width, int height, int channels,
                   int quality, ic_buffer *out) {
    memset(out, 0, sizeof(*out));
    if (channels != 1 && channels != 3) {
        snprintf(out->message, sizeof out->message, "JPEG stores 1 or 3 channels, got %d", channels);
        return 1;
    }
    struct jpeg_compress_struct cinfo;
    ic_jpeg_error err;
    // Address taken, so both live in memory and are current after a longjmp.
    unsigned char *buffer = NULL;
    unsigned long size = 0;
    cinfo.err = &err.pub;
    ic_jpeg_install(&err.pub, &err, out->message);
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    out->bytes = buffer;
    out->size = size;
    return 0;
}

int ic_probe(const unsigned char *data, size_t size, ic_image *out) {
    memset(out, 0, sizeof(*out));
    if (size >= 24 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
        out->width = (int)((data[16] << 24) | (data[17] << 16) | (data[18] << 8) | data[19]);
        out->height = (int)((data[20] << 24) | (data[21] << 16) | (data[22] << 8) | data[23]);
        return 0;
    }
    if (size >= 4 && data[0] == 0xFF && data[1] == 0xD8) {
        struct jpeg_decompress_struct cinfo;
        ic_jpeg_error err;
        cinfo.err = &err.pub;
        ic_jpeg_install(&err.pub, &err, out->message);
        if (setjmp(err.jump)) { jpeg_destroy_decompress(&cinfo); return 1; }
        jpeg_create_decompress(&cinfo);
        jpeg_mem_src(&cinfo, data, (unsigned long)size);
        jpeg_read_header(&cinfo, TRUE);
        out->width = (int)cinfo.image_width;
        out->height = (int)cinfo.image_height;
        out->channels = cinfo.num_components;
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    snprintf(out->message, sizeof out->message, "neither PNG nor JPEG");
    return 1;
}
