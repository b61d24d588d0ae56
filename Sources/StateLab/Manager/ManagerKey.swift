import Crypto

import Glibc

/// The shared secret that manager clients prove they know. It lives in a file
/// readable only by its owner; the file holds the key as hex text on one line.
public enum ManagerKey {
    /// Bytes in a generated key (as multiprocessing's default authkey).
    public static let length = 32

    /// A fresh random key from the system's secure generator.
    public static func generate() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Writes `key` to `path`, created (or truncated) with mode 0600.
    public static func write(_ key: [UInt8], to path: String) throws {
        guard !key.isEmpty else { throw StoreError("manager: refusing to write an empty key") }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("manager: cannot create key file \(path): \(ManagerPOSIX.errorText())") }
        defer { close(fd) }
        // An existing file keeps its old mode through O_CREAT, so set it explicitly.
        guard fchmod(fd, 0o600) == 0 else { throw StoreError("manager: cannot chmod key file \(path): \(ManagerPOSIX.errorText())") }
        try ManagerPOSIX.writeAll(fd, Array((hex(key) + "\n").utf8), what: "key file \(path)")
    }

    /// Reads a key written by `write(_:to:)`.
    public static func read(from path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError("manager: cannot open key file \(path): \(ManagerPOSIX.errorText())") }
        defer { close(fd) }
        let contents = try ManagerPOSIX.readAll(fd, limit: 4096, what: "key file \(path)")
        let text = String(decoding: contents, as: UTF8.self).filter { !$0.isWhitespace }
        guard let key = unhex(text), !key.isEmpty else {
            throw StoreError("manager: key file \(path) does not hold a hex key")
        }
        return key
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var index = 0
        while index < chars.count {
            guard let high = hexValue(chars[index]), let low = hexValue(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func hexValue(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return char - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// The challenge-response both ends compute, as multiprocessing's `deliver_challenge`.
enum ManagerAuthentication {
    static func makeChallenge() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<ManagerProtocol.challengeLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    static func answer(key: [UInt8], challenge: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: challenge, using: SymmetricKey(data: key)))
    }

    /// Compares in constant time (swift-crypto's check), so timing leaks nothing about the key.
    static func isValid(answer: [UInt8], key: [UInt8], challenge: [UInt8]) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(answer, authenticating: challenge, using: SymmetricKey(data: key))
    }
}

