import Workbook

/// One convolution layer to time.
struct ConvLayer {
    let name: String
    let batch: Int, inChannels: Int, outChannels: Int, size: Int
    let kernel: Int, stride: Int, padding: Int

    var outSize: Int { (size + 2 * padding - kernel) / stride + 1 }
    /// Multiply-adds x 2 of one pass (forward, input-grad and weight-grad each cost the same).
    var flops: Double {
        2 * Double(batch * outChannels * outSize * outSize) * Double(inChannels * kernel * kernel)
    }
    var shapeText: String { "\(batch)x\(inChannels)x\(size)x\(size) k\(kernel)s\(stride) ->\(outChannels)" }
}

struct ConvTimes {
    let forward: Double, inputGrad: Double, weightGrad: Double
}

/// Times forward (no graph), backward to the input only (frozen weight) and backward to the
/// weight only (input without grad, as in the first layer).
func timeConv(_ layer: ConvLayer, warmup: Int, runs: Int) -> ConvTimes {
    let x = Tensor.randn([layer.batch, layer.inChannels, layer.size, layer.size], generator: Generator(seed: 3))
    let w = Tensor.randn([layer.outChannels, layer.inChannels, layer.kernel, layer.kernel], generator: Generator(seed: 4))
    let s = (layer.stride, layer.stride), p = (layer.padding, layer.padding)
    let gradOut = Tensor.randn([layer.batch, layer.outChannels, layer.outSize, layer.outSize], generator: Generator(seed: 5))

    let forward = medianSeconds(warmup: warmup, runs: runs) {
        _ = withNoGrad { conv2d(x, weight: w, bias: nil, stride: s, padding: p) }
    }
    // Backward alone: the graph is built once and kept (retainGraph), gradients cleared each run.
    x.requiresGrad = true
    let yx = conv2d(x, weight: w, bias: nil, stride: s, padding: p)
    let inputGrad = medianSeconds(warmup: warmup, runs: runs) {
        x.zeroGrad()
        yx.backward(gradOut, retainGraph: true)
    }
    x.requiresGrad = false
    w.requiresGrad = true
    let yw = conv2d(x, weight: w, bias: nil, stride: s, padding: p)
    let weightGrad = medianSeconds(warmup: warmup, runs: runs) {
        w.zeroGrad()
        yw.backward(gradOut, retainGraph: true)
    }
    return ConvTimes(forward: forward, inputGrad: inputGrad, weightGrad: weightGrad)
}

let resNet18Layers: [ConvLayer] = [
    ConvLayer(name: "r18 conv1 7x7/2", batch: 8, inChannels: 3, outChannels: 64, size: 224, kernel: 7, stride: 2, padding: 3),
    ConvLayer(name: "r18 layer1 3x3", batch: 8, inChannels: 64, outChannels: 64, size: 56, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "r18 layer2 3x3/2", batch: 8, inChannels: 64, outChannels: 128, size: 56, kernel: 3, stride: 2, padding: 1),
    ConvLayer(name: "r18 layer2 3x3", batch: 8, inChannels: 128, outChannels: 128, size: 28, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "r18 layer3 3x3", batch: 8, inChannels: 256, outChannels: 256, size: 14, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "r18 layer4 3x3", batch: 8, inChannels: 512, outChannels: 512, size: 7, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "r18 proj 1x1/2 64", batch: 8, inChannels: 64, outChannels: 128, size: 56, kernel: 1, stride: 2, padding: 0),
    ConvLayer(name: "r18 proj 1x1/2 128", batch: 8, inChannels: 128, outChannels: 256, size: 28, kernel: 1, stride: 2, padding: 0),
    ConvLayer(name: "r18 proj 1x1/2 256", batch: 8, inChannels: 256, outChannels: 512, size: 14, kernel: 1, stride: 2, padding: 0),
    ConvLayer(name: "r50 1x1 256->64", batch: 8, inChannels: 256, outChannels: 64, size: 56, kernel: 1, stride: 1, padding: 0),
    ConvLayer(name: "r50 1x1 512->128 28", batch: 8, inChannels: 512, outChannels: 128, size: 28, kernel: 1, stride: 1, padding: 0),
    ConvLayer(name: "r50 1x1 1024->256 14", batch: 8, inChannels: 1024, outChannels: 256, size: 14, kernel: 1, stride: 1, padding: 0),
    ConvLayer(name: "r50 1x1 512->2048 7", batch: 8, inChannels: 512, outChannels: 2048, size: 7, kernel: 1, stride: 1, padding: 0),
]

let smallNetLayers: [ConvLayer] = [
    ConvLayer(name: "small stem 3->16", batch: 128, inChannels: 3, outChannels: 16, size: 28, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "small 16 28x28", batch: 128, inChannels: 16, outChannels: 16, size: 28, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "small 16->32 /2", batch: 128, inChannels: 16, outChannels: 32, size: 28, kernel: 3, stride: 2, padding: 1),
    ConvLayer(name: "small 32 14x14", batch: 128, inChannels: 32, outChannels: 32, size: 14, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "small 32->64 /2", batch: 128, inChannels: 32, outChannels: 64, size: 14, kernel: 3, stride: 2, padding: 1),
    ConvLayer(name: "small 64 7x7", batch: 128, inChannels: 64, outChannels: 64, size: 7, kernel: 3, stride: 1, padding: 1),
    ConvLayer(name: "small proj 1x1/2 16", batch: 128, inChannels: 16, outChannels: 32, size: 28, kernel: 1, stride: 2, padding: 0),
    ConvLayer(name: "small proj 1x1/2 32", batch: 128, inChannels: 32, outChannels: 64, size: 14, kernel: 1, stride: 2, padding: 0),
]
