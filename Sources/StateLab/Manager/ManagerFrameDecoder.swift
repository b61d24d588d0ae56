import NIOCore

/// Splits the inbound byte stream into length-prefixed frames (see `ManagerProtocol`).
/// Partial frames stay in the decoder's buffer until complete; a declared length
/// above the limit throws before any payload is read or allocated.
struct ManagerFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    struct OversizedFrame: Error, Equatable {
        let declaredLength: UInt32
    }

    let maxFrameLength: Int

    init(maxFrameLength: Int = ManagerProtocol.maxFrameLength) {
        self.maxFrameLength = maxFrameLength
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else {
            return .needMoreData
        }
        guard length <= maxFrameLength else { throw OversizedFrame(declaredLength: length) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A truncated frame at close is dropped: the peer is gone, nobody to answer.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

extension ByteBuffer {
    /// Appends one frame: big-endian length, then `payload`.
    mutating func writeManagerFrame(_ payload: some Collection<UInt8>) {
        writeInteger(UInt32(payload.count), endianness: .big)
        writeBytes(payload)
    }
}
