// statelab-fuzz: the libFuzzer harness for statelab's input parsers.
//
// Built with -DSTATELAB_FUZZ and -sanitize=fuzzer (see Fuzz/run.sh), this file
// provides LLVMFuzzerTestOneInput and libFuzzer provides main; the target is
// chosen with STATELAB_FUZZ_TARGET=head|chunked|response|scenario.
//
// In a normal build it is a plain tool that replays saved inputs:
//   statelab-fuzz replay head Fuzz/corpus/head [more files or directories]
import Foundation
import StateLab

private func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("statelab-fuzz: \(message)\n".utf8))
    exit(2)
}

private let targetNames = FuzzEntryPoints.Target.allCases.map(\.rawValue).joined(separator: "|")

#if STATELAB_FUZZ

/// The target named by STATELAB_FUZZ_TARGET, read once.
private let fuzzTarget: FuzzEntryPoints.Target = {
    guard let value = ProcessInfo.processInfo.environment["STATELAB_FUZZ_TARGET"] else {
        fail("set STATELAB_FUZZ_TARGET=\(targetNames)")
    }
    guard let target = FuzzEntryPoints.Target(rawValue: value) else {
        fail("unknown STATELAB_FUZZ_TARGET '\(value)', use \(targetNames)")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzEntryPoints.run(fuzzTarget, UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#else

@main
enum StatelabFuzz {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 3, arguments[0] == "replay",
              let target = FuzzEntryPoints.Target(rawValue: arguments[1]) else {
            fail("usage: statelab-fuzz replay \(targetNames) FILE_OR_DIRECTORY...\n"
                 + "(the fuzzer itself is built by Fuzz/run.sh)")
        }
        var count = 0
        for path in arguments[2...] {
            for file in inputs(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
                FuzzEntryPoints.run(target, Array(data))
                count += 1
            }
        }
        print("statelab-fuzz: replayed \(count) inputs through \(target.rawValue)")
    }

    /// The file itself, or every regular file under the directory, sorted.
    private static func inputs(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { fail("no such file: \(path)") }
        guard isDirectory.boolValue else { return [path] }
        guard let walker = FileManager.default.enumerator(atPath: path) else { fail("cannot list \(path)") }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            let full = (path as NSString).appendingPathComponent(relative)
            var nested: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &nested), !nested.boolValue {
                files.append(full)
            }
        }
        return files.sorted()
    }
}

#endif
