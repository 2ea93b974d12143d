/*
 * SteelSight fused preprocessing: one pass from the BGR uint8 frame to the network input.
 *
 * Per output pixel (dx, dy) of the [3, out_h, out_w] tensor:
 *   1. the column and row tap tables (edge/preprocess/tables.py) give the two source columns and
 *      rows inside the ROI (absolute frame coordinates) and their 11-bit weights, exactly those of
 *      OpenCV's uint8 INTER_LINEAR resize (half-pixel centres, edge clamping) or of
 *      INTER_NEAREST_EXACT (weights 2048 and 0);
 *   2. each of the four taps is a frame pixel, or with SS_UNDISTORT an undistorted pixel: the remap
 *      table (map_x, map_y, float32, frame-sized) is read at the tap and the frame sampled there
 *      bilinearly as cv2.remap does it (INTER_LINEAR, BORDER_CONSTANT 0): three fused
 *      multiply-adds in float32, rounded to nearest-even and saturated to uint8;
 *   3. the taps are combined in OpenCV's fixed point and rounded back to uint8, so the value equals
 *      the pixel of cv2.resize(cv2.remap(frame)[roi]) bit for bit;
 *   4. channel order (swap_rb: output channel k reads BGR channel 2 - k), normalisation
 *      (v / 255 - mean) / std with IEEE round-to-nearest operations (the same float32 values as the
 *      CPU path's table and the trainer), HWC -> CHW, stored as float or __half.
 *
 * Compile-time switches (nvcc -D): SS_OUT_HALF (0: float output, 1: __half output) and
 * SS_UNDISTORT (0: no remap table, 1: sample through map_x/map_y).
 */

#include <cuda_fp16.h>

#ifndef SS_OUT_HALF
#define SS_OUT_HALF 0
#endif
#ifndef SS_UNDISTORT
#define SS_UNDISTORT 0
#endif

#if SS_OUT_HALF
typedef __half ss_out_t;
static __device__ __forceinline__ ss_out_t ss_store(float v) { return __float2half_rn(v); }
#else
typedef float ss_out_t;
static __device__ __forceinline__ ss_out_t ss_store(float v) { return v; }
#endif

/* The BGR pixel (x, y) of the frame, or of the undistorted frame with SS_UNDISTORT. */
static __device__ __forceinline__ void ss_pixel(
    const unsigned char* __restrict__ src, int src_w, int src_h,
    const float* __restrict__ map_x, const float* __restrict__ map_y,
    int x, int y, int v[3])
{
#if SS_UNDISTORT
    const size_t at = (size_t)y * (size_t)src_w + (size_t)x;
    const float mx = map_x[at];
    const float my = map_y[at];
    const float fx = floorf(mx);
    const float fy = floorf(my);
    v[0] = 0;
    v[1] = 0;
    v[2] = 0;
    /* all four samples outside the frame (or a non-finite map entry): the border value 0 */
    if (!(fx >= -1.0f && fx < (float)src_w && fy >= -1.0f && fy < (float)src_h)) {
        return;
    }
    const int sx = (int)fx;
    const int sy = (int)fy;
    const float ax = __fsub_rn(mx, fx); /* exact: the fraction of a float */
    const float ay = __fsub_rn(my, fy);
    const bool in_x0 = sx >= 0;
    const bool in_x1 = sx + 1 < src_w;
    const bool in_y0 = sy >= 0;
    const bool in_y1 = sy + 1 < src_h;
    const size_t row = (size_t)src_w * 3;
    const unsigned char* p0 = src + (size_t)(in_y0 ? sy : 0) * row;
    const unsigned char* p1 = src + (size_t)(in_y1 ? sy + 1 : 0) * row;
    const int c0 = (in_x0 ? sx : 0) * 3;
    const int c1 = (in_x1 ? sx + 1 : 0) * 3;
#pragma unroll
    for (int c = 0; c < 3; ++c) {
        const float p00 = (in_y0 && in_x0) ? (float)p0[c0 + c] : 0.0f;
        const float p01 = (in_y0 && in_x1) ? (float)p0[c1 + c] : 0.0f;
        const float p10 = (in_y1 && in_x0) ? (float)p1[c0 + c] : 0.0f;
        const float p11 = (in_y1 && in_x1) ? (float)p1[c1 + c] : 0.0f;
        const float r0 = fmaf(ax, __fsub_rn(p01, p00), p00);
        const float r1 = fmaf(ax, __fsub_rn(p11, p10), p10);
        const float value = fmaf(ay, __fsub_rn(r1, r0), r0);
        v[c] = min(max(__float2int_rn(value), 0), 255);
    }
#else
    (void)src_h;
    (void)map_x;
    (void)map_y;
    const unsigned char* p = src + ((size_t)y * (size_t)src_w + (size_t)x) * 3;
    v[0] = p[0];
    v[1] = p[1];
    v[2] = p[2];
#endif
}

/* One row of the horizontal pass: src(x0) * a0 + src(x1) * a1 per channel (a1 == 0 skips the tap). */
static __device__ __forceinline__ void ss_row(
    const unsigned char* __restrict__ src, int src_w, int src_h,
    const float* __restrict__ map_x, const float* __restrict__ map_y,
    int4 xt, int y, int sum[3])
{
    int a[3];
    ss_pixel(src, src_w, src_h, map_x, map_y, xt.x, y, a);
    sum[0] = a[0] * xt.z;
    sum[1] = a[1] * xt.z;
    sum[2] = a[2] * xt.z;
    if (xt.w != 0) {
        ss_pixel(src, src_w, src_h, map_x, map_y, xt.y, y, a);
        sum[0] += a[0] * xt.w;
        sum[1] += a[1] * xt.w;
        sum[2] += a[2] * xt.w;
    }
}

extern "C" __global__ void steelsight_preprocess(
    const unsigned char* __restrict__ src, int src_w, int src_h,
    const int4* __restrict__ xtab, const int4* __restrict__ ytab,
    const float* __restrict__ map_x, const float* __restrict__ map_y,
    ss_out_t* __restrict__ dst, int out_w, int out_h,
    float mean0, float mean1, float mean2, float std0, float std1, float std2, int swap_rb)
{
    const int dx = blockIdx.x * blockDim.x + threadIdx.x;
    const int dy = blockIdx.y * blockDim.y + threadIdx.y;
    if (dx >= out_w || dy >= out_h) {
        return;
    }
    const int4 xt = xtab[dx]; /* (column0, column1, weight0, weight1) */
    const int4 yt = ytab[dy]; /* (row0, row1, weight0, weight1) */

    int row0[3];
    int row1[3] = {0, 0, 0};
    ss_row(src, src_w, src_h, map_x, map_y, xt, yt.x, row0);
    if (yt.w != 0) {
        ss_row(src, src_w, src_h, map_x, map_y, xt, yt.y, row1);
    }

    /* OpenCV's vertical pass for uint8: ((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16), + 2, >> 2 */
    int v[3];
#pragma unroll
    for (int c = 0; c < 3; ++c) {
        const int value = (((yt.z * (row0[c] >> 4)) >> 16) + ((yt.w * (row1[c] >> 4)) >> 16) + 2) >> 2;
        v[c] = min(max(value, 0), 255);
    }

    const float mean[3] = {mean0, mean1, mean2};
    const float stdv[3] = {std0, std1, std2};
    const size_t plane = (size_t)out_w * (size_t)out_h;
    const size_t at = (size_t)dy * (size_t)out_w + (size_t)dx;
#pragma unroll
    for (int k = 0; k < 3; ++k) {
        const float pixel = (float)v[swap_rb ? 2 - k : k];
        const float x = __fdiv_rn(__fsub_rn(__fdiv_rn(pixel, 255.0f), mean[k]), stdv[k]);
        dst[(size_t)k * plane + at] = ss_store(x);
    }
}
