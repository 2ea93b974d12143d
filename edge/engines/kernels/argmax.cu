// SteelSight: logits [N, C, H, W] (NCHW, contiguous) -> uint8 class map [N, H, W] on the GPU.
//
// Loaded by edge/engines/tensorrt_engine.py with pycuda's SourceModule(no_extern_c=True); the
// kernel names below are the ones that module looks up (KERNEL_NAMES). One thread per pixel,
// grid-stride loop, so any launch size covers the whole batch. Only the class map leaves the GPU.
//
//   argmax_f32 / argmax_f16          (logits, classes, n, c, hw)
//       class = the first channel with the largest logit (numpy.argmax semantics, NaN aside).
//   threshold2_f32 / threshold2_f16  (logits, classes, n, hw, threshold)
//       two-class models: class 1 where softmax p1 = 1 / (1 + exp(l0 - l1)) >= threshold, else 0.

#include <cuda_fp16.h>

namespace steelsight {

__device__ __forceinline__ float as_float(float value) { return value; }

__device__ __forceinline__ float as_float(__half value) { return __half2float(value); }

// Calls per_pixel(pixel, image, offset) for every pixel of the batch: a grid-stride loop over the
// n * hw pixels, where pixel = image * hw + offset. The kernels pass a lambda and read the logits
// through a __restrict__ pointer declared inside it (a captured copy loses __restrict__, and with it
// the read-only cached loads).
template <typename PerPixel>
__device__ __forceinline__ void for_each_pixel(int n, int hw, PerPixel per_pixel)
{
    const long long total = static_cast<long long>(n) * hw;
    const long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
    for (long long pixel = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; pixel < total;
         pixel += stride) {
        const long long image = pixel / hw;
        per_pixel(pixel, image, pixel - image * hw);
    }
}

template <typename T>
__device__ void argmax_classes(const T* __restrict__ logits, unsigned char* __restrict__ classes, int n,
                               int c, int hw)
{
    for_each_pixel(n, hw, [=](long long pixel, long long image, long long offset) {
        const T* __restrict__ column = logits + image * c * hw + offset;
        float best = as_float(column[0]);
        int best_class = 0;
        for (int k = 1; k < c; ++k) {
            const float value = as_float(column[static_cast<long long>(k) * hw]);
            if (value > best) {
                best = value;
                best_class = k;
            }
        }
        classes[pixel] = static_cast<unsigned char>(best_class);
    });
}

template <typename T>
__device__ void threshold_classes(const T* __restrict__ logits, unsigned char* __restrict__ classes, int n,
                                  int hw, float threshold)
{
    for_each_pixel(n, hw, [=](long long pixel, long long image, long long offset) {
        const T* __restrict__ column = logits + image * 2 * hw + offset;
        const float background = as_float(column[0]);
        const float foreground = as_float(column[hw]);
        const float p1 = 1.0f / (1.0f + expf(background - foreground));
        classes[pixel] = p1 >= threshold ? 1 : 0;
    });
}

}  // namespace steelsight

extern "C" {

__global__ void argmax_f32(const float* logits, unsigned char* classes, int n, int c, int hw)
{
    steelsight::argmax_classes(logits, classes, n, c, hw);
}

__global__ void argmax_f16(const __half* logits, unsigned char* classes, int n, int c, int hw)
{
    steelsight::argmax_classes(logits, classes, n, c, hw);
}

__global__ void threshold2_f32(const float* logits, unsigned char* classes, int n, int hw, float threshold)
{
    steelsight::threshold_classes(logits, classes, n, hw, threshold);
}

__global__ void threshold2_f16(const __half* logits, unsigned char* classes, int n, int hw, float threshold)
{
    steelsight::threshold_classes(logits, classes, n, hw, threshold);
}

}  // extern "C"
