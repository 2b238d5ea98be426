namespace Tailor.Tests;

/// <summary>Tests that touch TorchSharp share one non-parallel collection (native state, thread pools, dispose scopes).</summary>
[CollectionDefinition("TorchSharp", DisableParallelization = true)]
public sealed class TorchSharpCollection;
