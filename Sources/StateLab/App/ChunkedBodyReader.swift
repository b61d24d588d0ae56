import NIOCore

/// Reads a chunked request body (RFC 9112, 7.1) and drops it, counting its
/// data bytes: the API takes no body, but a client may send one, and the
/// connection can only be reused once all of it has been read.
struct ChunkedBodyReader {
    private enum State {
        case size(value: Int, digits: Int)
        case sizeExtension(value: Int, length: Int)
        case sizeLineFeed(value: Int)
        case data(remaining: Int)
        case dataCarriageReturn
        case dataLineFeed
        case trailer(lineLength: Int, total: Int)
        case done
    }

    /// A chunk-size line (with its extensions) or the trailer section over this is refused.
    static let maxLineBytes = 4096

    private var state = State.size(value: 0, digits: 0)
    /// Chunk data read so far.
    private(set) var dataBytes = 0

    /// Consumes what it can of `buffer`. True once the body, trailers
    /// included, has ended; the bytes after it stay in the buffer.
    mutating func consume(_ buffer: inout ByteBuffer) throws(RequestHeadError) -> Bool {
        while true {
            if case .done = state { return true }
            if case .data(let remaining) = state {
                let taken = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: taken)
                dataBytes += taken
                state = remaining == taken ? .dataCarriageReturn : .data(remaining: remaining - taken)
                if remaining != taken { return false }
                continue
            }
            guard let byte = buffer.readInteger(as: UInt8.self) else { return false }
            try step(byte)
        }
    }

    private mutating func step(_ byte: UInt8) throws(RequestHeadError) {
        switch state {
        case .size(let value, let digits):
            if let digit = Self.hexValue(byte) {
                guard digits < 15 else { throw .malformed("a chunk size is too large") }
                state = .size(value: value << 4 | digit, digits: digits + 1)
            } else if digits == 0 {
                throw .malformed("a chunk size is not a hex number")
            } else if byte == UInt8(ascii: ";") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                state = .sizeExtension(value: value, length: 0)
            } else if byte == UInt8(ascii: "\r") {
                state = .sizeLineFeed(value: value)
            } else if byte == UInt8(ascii: "\n") {
                endOfSizeLine(value)
            } else {
                throw .malformed("a chunk size is not a hex number")
            }
        case .sizeExtension(let value, let length):
            if byte == UInt8(ascii: "\n") {
                endOfSizeLine(value)
            } else if byte == UInt8(ascii: "\r") {
                state = .sizeLineFeed(value: value)
            } else {
                guard length < Self.maxLineBytes else { throw .malformed("a chunk extension is over \(Self.maxLineBytes) bytes") }
                state = .sizeExtension(value: value, length: length + 1)
            }
        case .sizeLineFeed(let value):
            guard byte == UInt8(ascii: "\n") else { throw .malformed("a chunk size line does not end in CRLF") }
            endOfSizeLine(value)
        case .dataCarriageReturn:
            if byte == UInt8(ascii: "\r") {
                state = .dataLineFeed
            } else if byte == UInt8(ascii: "\n") {
                state = .size(value: 0, digits: 0)
            } else {
                throw .malformed("chunk data is longer than its size")
            }
        case .dataLineFeed:
            guard byte == UInt8(ascii: "\n") else { throw .malformed("chunk data is longer than its size") }
            state = .size(value: 0, digits: 0)
        case .trailer(let lineLength, let total):
            if byte == UInt8(ascii: "\n") {
                state = lineLength == 0 ? .done : .trailer(lineLength: 0, total: total)
            } else if byte != UInt8(ascii: "\r") {
                guard total < Self.maxLineBytes else { throw .malformed("the trailer section is over \(Self.maxLineBytes) bytes") }
                state = .trailer(lineLength: lineLength + 1, total: total + 1)
            }
        case .data, .done:
            preconditionFailure("consume handles \(state) itself")
        }
    }

    private mutating func endOfSizeLine(_ value: Int) {
        state = value == 0 ? .trailer(lineLength: 0, total: 0) : .data(remaining: value)
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
