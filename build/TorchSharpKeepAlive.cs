// MSBuild inline task (compiled by RoslynCodeTaskFactory): see TorchSharpKeepAlive.targets for why it exists.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Mono.Cecil;
using Mono.Cecil.Cil;

public class TailorKeepTorchSharpHandlesAlive : Task
{
    // Bump when the rewrite changes, so that every checkout rewrites its copy again.
    const string RewriteVersion = "1";
    const string HelperNamespace = "TorchSharp";
    const string HelperName = "TailorKeepAlive";
    // How many objects each thread keeps. A native call reads only the handles fetched just before it on its own
    // thread (a handful; torch.cat's list is held by its caller), so 256 is ample, and costs 2 KiB per thread.
    const int RingSize = 256;

    [Required] public ITaskItem[] Assemblies { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string OutputDirectory { get; set; } = "";
    [Required] public string CecilDirectory { get; set; } = "";
    [Output] public ITaskItem[] Result { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        // MSBuild does not resolve an inline task's references at run time: point it at the restored Mono.Cecil.
        ResolveEventHandler resolve = (_, e) =>
        {
            string path = Path.Combine(CecilDirectory, new System.Reflection.AssemblyName(e.Name).Name + ".dll");
            return File.Exists(path) ? System.Reflection.Assembly.LoadFrom(path) : null;
        };
        AppDomain.CurrentDomain.AssemblyResolve += resolve;
        try { return Run(); }
        finally { AppDomain.CurrentDomain.AssemblyResolve -= resolve; }
    }

    bool Run()
    {
        var result = new ITaskItem[Assemblies.Length];
        for (int i = 0; i < Assemblies.Length; i++)
        {
            ITaskItem item = Assemblies[i];
            string source = item.GetMetadata("FullPath");
            string version = item.GetMetadata("NuGetPackageVersion");
            string hash = Sha256(source).Substring(0, 16);
            string dir = Path.Combine(OutputDirectory, "torchsharp-" + (version.Length > 0 ? version : "unknown") +
                                                       "-keepalive" + RewriteVersion + "-" + hash);
            string target = Path.Combine(dir, Path.GetFileName(source));
            if (!File.Exists(target))
            {
                Directory.CreateDirectory(dir);
                string temp = target + "." + Guid.NewGuid().ToString("N") + ".tmp";
                int sites;
                try { sites = Rewrite(source, temp); }
                catch (Exception e)
                {
                    if (File.Exists(temp)) File.Delete(temp);
                    Log.LogError("Tailor: could not rewrite " + source + " to keep native handles alive (" + e.Message +
                                 "). Without it TorchSharp can free a temporary Scalar or Tensor while libtorch reads it." +
                                 " See build/TorchSharpKeepAlive.targets.");
                    return false;
                }
                try { File.Move(temp, target); }
                catch (IOException) when (File.Exists(target)) { File.Delete(temp); } // a parallel build got there first
                Log.LogMessage(MessageImportance.High, "Tailor: wrote " + target + " (" + sites +
                               " native-handle reads now keep their object alive; see build/TorchSharpKeepAlive.targets).");
            }
            var copy = new TaskItem(target);
            item.CopyMetadataTo(copy);
            result[i] = copy;
        }
        Result = result;
        return true;
    }

    static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        using var sha = SHA256.Create();
        return BitConverter.ToString(sha.ComputeHash(stream)).Replace("-", "").ToLowerInvariant();
    }

    /// <summary>
    /// Every read of a native-handle field (an IntPtr named <c>handle</c>, or the backing field of a <c>Handle</c>
    /// auto-property, on a class that has a finalizer) becomes <c>dup; call Hold(object); ldfld</c>: the object whose
    /// handle is about to go to libtorch is stored in a per-thread ring first, so the GC cannot finalize it (and free the
    /// native object) before the native call that follows has returned. The owner's own finalizer and Dispose are left
    /// alone, so a finalizing object is never stored (resurrected).
    /// </summary>
    static int Rewrite(string source, string target)
    {
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(source));
        using var module = ModuleDefinition.ReadModule(source, new ReaderParameters { AssemblyResolver = resolver });
        if (module.GetType(HelperNamespace, HelperName) != null)
            throw new InvalidDataException("it already contains " + HelperName);

        var handleFields = new HashSet<FieldDefinition>(
            module.GetTypes()
                .Where(t => t.IsClass && t.Methods.Any(m => m.Name == "Finalize" && !m.HasParameters && m.IsVirtual))
                .SelectMany(t => t.Fields)
                .Where(f => !f.IsStatic && f.FieldType.FullName == "System.IntPtr" &&
                            (f.Name == "handle" || f.Name == "<Handle>k__BackingField")));
        string[] required = { "TorchSharp.Scalar", "TorchSharp.torch/Tensor" };
        foreach (string name in required)
            if (!handleFields.Any(f => f.DeclaringType.FullName == name))
                throw new InvalidDataException("no native-handle field found on " + name + "; the TorchSharp layout changed");

        MethodDefinition hold = AddHelper(module);
        int sites = 0;
        foreach (TypeDefinition type in module.GetTypes().ToList())
        {
            foreach (MethodDefinition method in type.Methods)
            {
                if (!method.HasBody || method.DeclaringType == hold.DeclaringType) continue;
                bool ownerLifecycle = handleFields.Any(f => f.DeclaringType == type) &&
                                      (method.Name == "Finalize" || method.Name == "Dispose" || method.IsConstructor);
                if (ownerLifecycle) continue;
                var reads = method.Body.Instructions
                    .Where(ins => ins.OpCode == OpCodes.Ldfld && ins.Operand is FieldReference f &&
                                  f.Resolve() is FieldDefinition d && handleFields.Contains(d))
                    .ToList();
                if (reads.Count == 0) continue;
                LongBranches(method.Body);
                ILProcessor il = method.Body.GetILProcessor();
                foreach (Instruction read in reads)
                {
                    // Turn the read itself into the dup, so branches and handlers that target it stay correct.
                    var field = (FieldReference)read.Operand;
                    read.OpCode = OpCodes.Dup;
                    read.Operand = null;
                    Instruction call = il.Create(OpCodes.Call, hold);
                    il.InsertAfter(read, call);
                    il.InsertAfter(call, il.Create(OpCodes.Ldfld, field));
                    sites++;
                }
            }
        }
        module.Write(target);
        return sites;
    }

    /// <summary>Inserting instructions can push a short branch out of its range: use the long forms throughout.</summary>
    static void LongBranches(MethodBody body)
    {
        foreach (Instruction ins in body.Instructions)
        {
            if (ins.OpCode.OperandType != OperandType.ShortInlineBrTarget) continue;
            ins.OpCode = ins.OpCode.Code switch
            {
                Code.Br_S => OpCodes.Br, Code.Brfalse_S => OpCodes.Brfalse, Code.Brtrue_S => OpCodes.Brtrue,
                Code.Beq_S => OpCodes.Beq, Code.Bge_S => OpCodes.Bge, Code.Bgt_S => OpCodes.Bgt,
                Code.Ble_S => OpCodes.Ble, Code.Blt_S => OpCodes.Blt, Code.Bne_Un_S => OpCodes.Bne_Un,
                Code.Bge_Un_S => OpCodes.Bge_Un, Code.Bgt_Un_S => OpCodes.Bgt_Un, Code.Ble_Un_S => OpCodes.Ble_Un,
                Code.Blt_Un_S => OpCodes.Blt_Un, Code.Leave_S => OpCodes.Leave,
                _ => throw new InvalidDataException("unexpected short branch " + ins.OpCode),
            };
        }
    }

    /// <summary>
    /// internal static class TailorKeepAlive {
    ///   [ThreadStatic] static object[] ring; [ThreadStatic] static int next;
    ///   internal static void Hold(object o) { var r = ring ?? (ring = new object[RingSize]); r[next++ &amp; (RingSize - 1)] = o; }
    /// }
    /// </summary>
    static MethodDefinition AddHelper(ModuleDefinition module)
    {
        TypeSystem ts = module.TypeSystem;
        var helper = new TypeDefinition(HelperNamespace, HelperName,
            TypeAttributes.NotPublic | TypeAttributes.Abstract | TypeAttributes.Sealed | TypeAttributes.Class |
            TypeAttributes.BeforeFieldInit, ts.Object);
        module.Types.Add(helper);

        var threadStatic = new TypeReference("System", "ThreadStaticAttribute", module, ts.CoreLibrary);
        var threadStaticCtor = new MethodReference(".ctor", ts.Void, threadStatic) { HasThis = true };
        var objectArray = new ArrayType(ts.Object);
        var ring = new FieldDefinition("ring", FieldAttributes.Private | FieldAttributes.Static, objectArray);
        var next = new FieldDefinition("next", FieldAttributes.Private | FieldAttributes.Static, ts.Int32);
        ring.CustomAttributes.Add(new CustomAttribute(threadStaticCtor));
        next.CustomAttributes.Add(new CustomAttribute(threadStaticCtor));
        helper.Fields.Add(ring);
        helper.Fields.Add(next);

        var hold = new MethodDefinition("Hold", MethodAttributes.Assembly | MethodAttributes.Static | MethodAttributes.HideBySig, ts.Void);
        hold.Parameters.Add(new ParameterDefinition("o", ParameterAttributes.None, ts.Object));
        var r = new VariableDefinition(objectArray);
        var index = new VariableDefinition(ts.Int32);
        hold.Body.Variables.Add(r);
        hold.Body.Variables.Add(index);
        hold.Body.InitLocals = true;
        ILProcessor il = hold.Body.GetILProcessor();
        Instruction haveRing = il.Create(OpCodes.Ldloc, r);
        il.Emit(OpCodes.Ldsfld, ring);
        il.Emit(OpCodes.Stloc, r);
        il.Emit(OpCodes.Ldloc, r);
        il.Emit(OpCodes.Brtrue, haveRing);
        il.Emit(OpCodes.Ldc_I4, RingSize);
        il.Emit(OpCodes.Newarr, ts.Object);
        il.Emit(OpCodes.Stloc, r);
        il.Emit(OpCodes.Ldloc, r);
        il.Emit(OpCodes.Stsfld, ring);
        il.Append(haveRing);                        // r
        il.Emit(OpCodes.Ldsfld, next);
        il.Emit(OpCodes.Stloc, index);
        il.Emit(OpCodes.Ldloc, index);
        il.Emit(OpCodes.Ldc_I4_1);
        il.Emit(OpCodes.Add);
        il.Emit(OpCodes.Stsfld, next);              // next = index + 1
        il.Emit(OpCodes.Ldloc, index);
        il.Emit(OpCodes.Ldc_I4, RingSize - 1);
        il.Emit(OpCodes.And);                       // r, index & (RingSize - 1)
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Stelem_Ref);
        il.Emit(OpCodes.Ret);
        helper.Methods.Add(hold);
        return hold;
    }
}
