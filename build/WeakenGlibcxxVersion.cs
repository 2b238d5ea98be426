// MSBuild inline task (compiled by RoslynCodeTaskFactory): see TorchSharpNativeFix.targets for why it exists.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class TailorWeakenGlibcxxVersion : Task
{
    const string Version = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    [Required] public ITaskItem[] Libraries { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string OutputDirectory { get; set; } = "";
    [Output] public ITaskItem[] Result { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        var result = new ITaskItem[Libraries.Length];
        bool hostHasVersion = HostLibstdcxxHas(Version);
        for (int i = 0; i < Libraries.Length; i++)
        {
            ITaskItem item = Libraries[i];
            result[i] = item;
            if (hostHasVersion) continue;

            string source = item.GetMetadata("FullPath");
            string version = item.GetMetadata("NuGetPackageVersion");
            string dir = Path.Combine(OutputDirectory, "torchsharp-" + (version.Length > 0 ? version : "unknown"));
            string target = Path.Combine(dir, Path.GetFileName(source));
            try
            {
                var sourceInfo = new FileInfo(source);
                var targetInfo = new FileInfo(target);
                bool fresh = targetInfo.Exists && targetInfo.Length == sourceInfo.Length
                             && targetInfo.LastWriteTimeUtc >= sourceInfo.LastWriteTimeUtc;
                if (!fresh)
                {
                    byte[] bytes = File.ReadAllBytes(source);
                    int patched = WeakenVersionNeed(bytes, Version);
                    if (patched == 0) continue; // A TorchSharp build that no longer asks for the version: use it as is.
                    Directory.CreateDirectory(dir);
                    string temp = target + "." + Guid.NewGuid().ToString("N") + ".tmp";
                    File.WriteAllBytes(temp, bytes);
                    if (File.Exists(target)) File.Replace(temp, target, null); else File.Move(temp, target);
                    Log.LogMessage(MessageImportance.High,
                        "Tailor: this host's libstdc++ lacks " + Version + "; wrote " + target +
                        " with that version need marked weak (the one symbol behind it is never called). See README.");
                }
                var copy = new TaskItem(target);
                item.CopyMetadataTo(copy);
                result[i] = copy;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is InvalidDataException)
            {
                Log.LogWarning("Tailor: could not patch " + source + " for " + Version + ": " + e.Message +
                               ". TorchSharp may fail to load on this host.");
            }
        }
        Result = result;
        return !Log.HasLoggedErrors;
    }

    static bool HostLibstdcxxHas(string version)
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        foreach (string path in candidates)
        {
            if (!File.Exists(path)) continue;
            byte[] bytes = File.ReadAllBytes(path);
            byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
            return IndexOf(bytes, needle) >= 0;
        }
        return true; // No libstdc++ where Linux keeps it: not a host this fix is for.
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    /// <summary>Sets VER_FLG_WEAK on every vernaux entry named <paramref name="version"/>; returns how many changed.</summary>
    static int WeakenVersionNeed(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("not a little-endian 64-bit ELF file");

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int changed = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 0x28);
            uint count = BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);

            long need = offset;
            for (uint n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    uint name = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadCString(elf, strtab + name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            flags |= VerFlgWeak;
                            elf[aux + 4] = (byte)flags;
                            elf[aux + 5] = (byte)(flags >> 8);
                        }
                        changed++;
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, (int)need + 12);
                if (next == 0) break;
                need += next;
            }
        }
        return changed;
    }

    static string ReadCString(byte[] bytes, long start)
    {
        long end = start;
        while (end < bytes.Length && bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)start, (int)(end - start));
    }
}
