#ifndef CENGINESUPPORT_H
#define CENGINESUPPORT_H

/// Which OpenBLAS core type the process selected for itself at load time:
/// "SkylakeX" when this support library re-executed the process with AVX-512 kernels,
/// the user's own OPENBLAS_CORETYPE if one was set, or "" when OpenBLAS chose by itself.
const char *engine_openblas_coretype(void);

/// 1 when the CPU reports AVX-512 F/BW/DQ/VL (what OpenBLAS's SkylakeX kernels use).
int engine_cpu_has_avx512(void);



/// One work item of `engine_pool_run`.
typedef void (*engine_pool_task)(void *context, int index);
/// Runs task(context, k) for k < count on the caller and up to threads - 1 workers of the engine's
/// pool, each item on whichever thread claims it first, and returns when all are done. Nested or
/// concurrent calls run their items in turn on the caller.
void engine_pool_run(int count, int threads, engine_pool_task task, void *context);
/// 1 on a thread that is running pool items (where `engine_pool_run` would run inline), else 0.
int engine_pool_inside(void);

/// Per-thread autograd switch: 1 records operations, 0 (inside a no-grad scope) does not.
int engine_grad_enabled(void);
void engine_set_grad_enabled(int enabled);
/// 1 when `engine_max_pool_plane` can run (x86-64 with AVX-512).
int engine_max_pool_available(void);
/// Floats of scratch `engine_max_pool_plane` needs for planes of width W.
long engine_max_pool_scratch_floats(int W, int kw, int sw, int pw, int Wo);
/// Max pooling (dilation 1) of one H x W plane into Ho x Wo; with `idx`, also each output's flat
/// input index (the first maximum in row-major window order, -1 for an all-padding window).
void engine_max_pool_plane(const float *x, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw,
                           int Ho, int Wo, float *y, int *idx, float *scratch);

/// 1 when the flat-plane convolution kernels below can run (x86-64 with AVX-512).
int engine_flat_conv_available(void);

/// out[o*ocs + q] (+)= sum over c < C, t < T of w[o][c][t] * in[c*ics + q + off[t]], for o < O, q < Q.
/// `wpack` holds the weights in blocks of four output channels, [(O+3)/4][C][T][4], zero-padded.
/// Reads up to in[(C-1)*ics + Q-1 + max(off)]; writes only out[o*ocs + q] for q < Q.
void engine_flat_conv_forward(const float *in, long ics, int C, int T, const long *off,
                              const float *wpack, int O, float *out, long ocs, long Q, int accumulate);

/// The same with T = 1 and no offset, the weights read from `u`, a matrix
/// [(C+3)/4][O][4] as `engine_winograd_pack_weights` writes it for a convolution of O inputs and C
/// outputs: out[o*ocs + q] = sum over c < C of u[((c/4)*O + o)*4 + c%4] * in[c*ics + q]. Reads up to
/// 12 floats past the matrix when O is not a multiple of 4.
void engine_flat_conv_forward_transposed(const float *in, long ics, int C, const float *u, int O, float *out,
                                         long ocs, long Q);

/// dw[(o*C + c)*T + t] += sum over images i < nimg and q < Q of
/// g[i*gis + o*gcs + q] * in[i*iis + c*ics + q + off[t]].
void engine_flat_conv_weight_grad(const float *in, long iis, long ics, int C, int T, const long *off,
                                  const float *g, long gis, long gcs, int O, long Q, int nimg, float *dw);

/// The same sum for kernels of nine taps, over true output pixels only, into dwv laid out
/// [(O+15)/16][C][9][16]: dwv[((o/16)*C + c)*144 + t*16 + o%16] += sum over images i < nimg,
/// oh < Ho, ow < Wo of gt[i*gti + (o/16)*Ho*Wo*16 + (oh*Wo + ow)*16 + o%16]
/// * in[i*iis + c*ics + oh*width + ow + off[t]]; `gt` is dY from `engine_flat_pack_gradient_outputs`.
void engine_flat_conv_weight_grad9(const float *in, long iis, long ics, int C, const long *off, long width,
                                   const float *gt, long gti, int O, int Ho, int Wo, int nimg, float *dwv);
/// dw[(o*C + c)*9 + t] += dwv's entry for (o, c, t).
void engine_flat_conv_weight_grad9_finish(const float *dwv, int O, int C, float *dw);
/// dY [O][P] as [(O+15)/16][P][16] (sixteen output channels per pixel), zero past O.
void engine_flat_pack_gradient_outputs(const float *g, int O, long P, float *dst);
/// One image `x` [C, H, W] as zero-padded phase planes [C][sh*sw][rows][width] (plane column j of
/// phase (a, b) holds input column j*sw + b - pw); `imageFloats` floats are written in all.
void engine_flat_pack_input(const float *x, int C, int H, int W, int sh, int sw, int ph, int pw, int rows, int width,
                            float *dst, long imageFloats);
/// dY [O, Ho, Wo] on rows of `width` floats after `lead` zeros; each channel takes `stride` floats.
void engine_flat_pack_gradient(const float *g, int O, int Ho, int Wo, int width, long lead, long stride, float *dst);
/// Rows of `width` floats back to [O, Ho, Wo], through the epilogue of `engine_channel_affine`.
void engine_flat_unpack_output(const float *ext, int O, int Ho, int Wo, int width, const float *scale,
                               const float *shift, const float *residual, int relu, float *y);
/// In place over y [O][plane]: y = y * scale[o] + shift[o] (either may be NULL: 1 and 0), plus
/// `residual` [O][plane] when not NULL, then max(0, .) when `relu`.
void engine_channel_affine(float *y, int O, long plane, const float *scale, const float *shift,
                           const float *residual, int relu);
/// The pixels a 1x1 convolution of stride (sh, sw) without padding reads, one image [C, H, W] as
/// [C][Ho][Wo].
void engine_flat_pack_subsampled(const float *x, int C, int H, int W, int sh, int sw, int Ho, int Wo, float *dst);
/// The reverse for its input gradient: dp [C][Ho][Wo] to those pixels of dx [C, H, W], zeros elsewhere.
void engine_flat_scatter_subsampled(const float *dp, int C, int H, int W, int sh, int sw, int Ho, int Wo,
                                    float *dx);
/// The sw phase planes of row phase `rowPhase` of a padded input gradient (column phase b at
/// dp + b * phaseStride, each [C][rows][width]) back into their rows of dx [C, H, W].
void engine_flat_scatter_phases(const float *dp, long phaseStride, int C, int H, int W, int sh, int sw, int ph,
                                int pw, int rows, int width, int rowPhase, float *dx);

/// Batch-norm loops over one channel stored as `images` runs of `s` floats, `stride` floats apart
/// (AVX-512 when available, scalar otherwise). A fused ReLU masks where fma(x, maskScale, maskShift) > 0.
/// 1: the scalar loops even where AVX-512 is available (tests compare the two).
void engine_batch_norm_use_scalar_loops(int on);
/// sum += sum(x - k), squares += sum((x - k)^2).
void engine_batch_norm_stats(const float *x, long images, long stride, long s, float k, double *sum, double *squares);
/// y = fma(x, a, b) (+ residual, when not NULL; laid out as x), then max(., 0) (NaN to 0) when `relu`.
void engine_batch_norm_affine(const float *x, const float *residual, float *y, long images, long stride, long s,
                              float a, float b, int relu);
/// sumG += sum(g'), sumGX += sum(g' * (x - mean)), g' = g masked by the fused ReLU.
void engine_batch_norm_gradient_sums(const float *g, const float *x, long images, long stride, long s, float mean,
                                     float maskScale, float maskShift, int relu, double *sumG, double *sumGX);
/// The same sums for a ReLU after an added residual (mask fma(x, maskScale, maskShift) + residual > 0),
/// also writing g' to `masked` (the residual's gradient).
void engine_batch_norm_residual_gradient_sums(const float *g, const float *x, const float *residual, float *masked,
                                              long images, long stride, long s, float mean, float maskScale,
                                              float maskShift, double *sumG, double *sumGX);
/// Training-mode input gradient: o = gain * (g' - meanG - (x - mean) * k).
void engine_batch_norm_input_gradient(const float *g, const float *x, float *o, long images, long stride, long s,
                                      float gain, float meanG, float mean, float k, float maskScale, float maskShift,
                                      int relu);
/// Running-statistics input gradient: o = gain * g'.
void engine_batch_norm_scaled_gradient(const float *g, const float *x, float *o, long images, long stride, long s,
                                       float gain, float maskScale, float maskShift, int relu);

/// 1 when the Winograd transforms below can run (x86-64 with AVX-512).
int engine_winograd_available(void);
/// Tiles per row up to which F(4x4) runs its transforms on several tile rows at once (narrow images).
enum { ENGINE_WINOGRAD_NARROW4_TILES = 7 };
/// Scratch floats `engine_winograd_forward` needs for groups of `groupRows` tile rows.
long engine_winograd_scratch_floats(int C, int O, int Ho, int Wo, int tile, int groupRows);
/// 3x3 stride-1 convolution of images x [n][C][H][W] (padding ph, pw) into y [n][O][Ho][Wo], by
/// Winograd F(tile x tile, 3x3), tile 2 or 4, each output written through the epilogue of
/// `engine_channel_affine` (`residual` laid out like y). `u` comes from
/// `engine_winograd_pack_weights` with the same tile; tiles are processed `groupRows` tile rows
/// at a time. `transposed` (tile 2 only): `u` is instead the pack (flip 0) of the convolution of O
/// inputs and C outputs whose input gradient this is, and this reads it transposed and with the
/// points of the 180-degree rotation, which for F(2x2, 3x3) is the same matrix set reordered.
void engine_winograd_forward(const float *x, int n, int C, int H, int W, int ph, int pw, const float *u, int O,
                             int Ho, int Wo, const float *scale, const float *shift, const float *residual, int relu,
                             float *y, int tile, int groupRows, int transposed, float *scratch);
/// Floats from one transform matrix of `floats` floats to the next of its set (a little more than
/// its size, off power-of-two distances).
long engine_winograd_matrix_stride(long floats);
/// `engine_winograd_matrix_stride` of one packed weight matrix.
long engine_winograd_weight_stride(int O, int C);
/// U = G g Gᵀ for output channels 4*b0 ..< min(4*b1, O) of the 3x3 kernels at w[o*os + c*cs]
/// (rotated by 180 degrees when `flip`), as (tile+2)^2 matrices [(O+3)/4][C][4] for
/// `engine_flat_conv_forward`, each `engine_winograd_weight_stride` floats after the previous one.
void engine_winograd_pack_weights(const float *w, int O, long os, int C, long cs, int flip, int tile, int b0, int b1,
                                  float *u);
/// V = Bᵀ d B of tile rows firstRow..<firstRow+rows (row r: image r / TY, tile row r % TY) into
/// v[ξ*vs + c*ld + t], t counted from 0 at `firstRow`.
void engine_winograd_input_tiles(const float *x, int C, int H, int W, int ph, int pw, int Ho, int Wo, long firstRow,
                                 long rows, float *v, long vs, long ld);
/// A dY Aᵀ of the same tile rows of dY [n][O][Ho][Wo] into gh[ξ*vs + o*ld + t].
void engine_winograd_gradient_tiles(const float *g, int O, int Ho, int Wo, long firstRow, long rows, float *gh, long vs,
                                    long ld);
/// Scratch floats `engine_winograd_weight_grad_images` needs for groups of `groupImages` images.
long engine_winograd_weight_grad_scratch_floats(int C, int O, int Ho, int Wo, int groupImages, int tile);
/// Adds dU = Σ_tiles (A dY Aᵀ) ⊗ (Bᵀ d B) of images x [n][C][H][W] and their dY [n][O][Ho][Wo]
/// (3x3, stride 1, padding ph, pw) to du [P][(O+15)/16][C][16], `groupImages` images at a time, by
/// F(2x2, 3x3) (`tile` 2, P = 16) or F(4x4, 3x3) (`tile` 4, P = 36; only for outputs at most
/// 4 * ENGINE_WINOGRAD_NARROW4_TILES wide).
void engine_winograd_weight_grad_images(const float *x, const float *g, int n, int C, int H, int W, int ph, int pw,
                                        int O, int Ho, int Wo, int groupImages, int tile, float *du, float *scratch);
/// dW [O][C][3][3] = Gᵀ dU G from the sums `engine_winograd_weight_grad_images` adds up with `tile`.
void engine_winograd_weight_grad_finish_blocked(const float *du, int O, int C, int tile, float *dw);
/// dW = Gᵀ dU G for output channels o0..<o1: du holds 16 matrices [O][C], `ps` floats apart;
/// dw is [O][C][3][3].
void engine_winograd_weight_grad_finish(const float *du, long ps, int O, int C, int o0, int o1, float *dw);
#endif
