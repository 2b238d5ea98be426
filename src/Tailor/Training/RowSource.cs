using Tailor.Data.Instructions;

namespace Tailor.Training;

/// <summary>
/// The training rows and their order: units (packed rows, or examples when not packing) laid out once; epoch e is
/// the permutation seeded by (seed, e); micro-batch g is units [b·B, b·B + B) of epoch g / batchesPerEpoch.
/// </summary>
internal sealed class RowSource
{
    private readonly IReadOnlyList<PackedSequence>? _packed;
    private readonly IReadOnlyList<EncodedExample>? _examples;
    private readonly int _batch, _padId;
    private readonly Dictionary<long, int[]> _orders = [];

    private RowSource(IReadOnlyList<PackedSequence>? packed, IReadOnlyList<EncodedExample>? examples, int batch, int padId)
    {
        _packed = packed;
        _examples = examples;
        _batch = batch;
        _padId = padId;
        UnitCount = packed?.Count ?? examples!.Count;
        BatchesPerEpoch = Math.Max(1, UnitCount / batch);
    }

    public int UnitCount { get; }

    public int BatchesPerEpoch { get; }

    public static RowSource Create(IReadOnlyList<EncodedExample> examples, TuneOptions o, int padId, int batch) =>
        o.Packing ? new RowSource(Packing.Pack(examples, o.Sequence, padId), null, batch, padId) : new RowSource(null, examples, batch, padId);

    public IReadOnlyList<PackedSequence> Batch(long index, long seed)
    {
        long epoch = index / BatchesPerEpoch;
        int b = (int)(index % BatchesPerEpoch);
        if (!_orders.TryGetValue(epoch, out int[]? order))
        {
            _orders.Clear();   // epochs advance monotonically; keep one
            order = Permutation(UnitCount, seed, epoch);
            _orders[epoch] = order;
        }
        var members = order.Skip(b * _batch).Take(Math.Min(_batch, UnitCount)).ToList();
        return _packed is not null
            ? [.. members.Select(i => _packed[i])]
            : Packing.PadBatch([.. members.Select(i => _examples![i])], _padId);
    }

    private static int[] Permutation(int n, long seed, long epoch)
    {
        var random = new Random(Seeds.BatchSeed(seed, epoch, 7));
        int[] order = [.. Enumerable.Range(0, n)];
        random.Shuffle(order);
        return order;
    }
}
