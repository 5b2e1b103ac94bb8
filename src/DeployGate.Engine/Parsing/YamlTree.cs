using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace DeployGate.Engine.Parsing;

internal enum YKind { Scalar, Mapping, Sequence }

/// <summary>A YAML node with its position. Aliases point at the anchored node (no copy), so the
/// tree is a DAG; <see cref="YamlTree"/> bounds how much aliases may expand it.</summary>
internal sealed class YNode(YKind kind, int line, int column)
{
    public YKind Kind { get; } = kind;
    public int Line { get; } = line;
    public int Column { get; } = column;
    public string? Value { get; init; }
    /// <summary>Plain (unquoted) scalar: <c>~</c>, <c>null</c> and empty mean null.</summary>
    public bool Plain { get; init; }
    public List<KeyValuePair<YNode, YNode>> Pairs { get; } = [];
    public List<YNode> Items { get; } = [];

    public bool IsNull => Kind == YKind.Scalar && Plain && Value is "" or "~" or "null" or "Null" or "NULL";

    public SourceSpan At => new(Line, Column);

    public string Describe() => Kind switch
    {
        YKind.Mapping => "a mapping",
        YKind.Sequence => "a list",
        _ => IsNull ? "nothing" : "a scalar",
    };
}

/// <summary>Builds a <see cref="YNode"/> tree from YamlDotNet's event parser (iterative, so deep
/// nesting cannot overflow the stack), with limits on depth and on alias expansion.</summary>
internal static class YamlTree
{
    public const int MaxDepth = 64;
    /// <summary>Most nodes a document may expand to, counting each alias use as a copy of its target.</summary>
    public const long MaxExpandedNodes = 100_000;

    public sealed record Failure(string Code, string Message, SourceSpan At);

    private sealed class Frame(YNode node, AnchorName anchor)
    {
        public YNode Node { get; } = node;
        public AnchorName Anchor { get; } = anchor;
        public YNode? PendingKey { get; set; }
        public long Size { get; set; } = 1;
    }

    public static YNode? Parse(string text, out Failure? failure)
    {
        failure = null;
        var anchors = new Dictionary<string, (YNode Node, long Size)>(StringComparer.Ordinal);
        var stack = new Stack<Frame>();
        YNode? root = null;
        var documents = 0;
        try
        {
            var parser = new Parser(new StringReader(text));
            while (parser.MoveNext())
            {
                var e = parser.Current!;
                switch (e)
                {
                    case DocumentStart:
                        if (++documents > 1)
                        {
                            failure = new("DG1002", "a policy file holds one YAML document", At(e));
                            return null;
                        }
                        break;
                    case Scalar s:
                        var scalar = new YNode(YKind.Scalar, At(e).Line, At(e).Column)
                        {
                            Value = s.Value,
                            Plain = s.Style == ScalarStyle.Plain,
                        };
                        if (!s.Anchor.IsEmpty) anchors[s.Anchor.Value] = (scalar, 1);
                        if (!Add(scalar, 1, At(e), ref failure)) return null;
                        break;
                    case MappingStart or SequenceStart:
                        if (stack.Count >= MaxDepth)
                        {
                            failure = new("DG1003", $"nesting deeper than {MaxDepth} levels", At(e));
                            return null;
                        }
                        var start = (NodeEvent)e;
                        var kind = e is MappingStart ? YKind.Mapping : YKind.Sequence;
                        stack.Push(new Frame(new YNode(kind, At(e).Line, At(e).Column), start.Anchor));
                        break;
                    case MappingEnd or SequenceEnd:
                        var done = stack.Pop();
                        if (!done.Anchor.IsEmpty) anchors[done.Anchor.Value] = (done.Node, done.Size);
                        if (!Add(done.Node, done.Size, At(e), ref failure)) return null;
                        break;
                    case AnchorAlias alias:
                        if (!anchors.TryGetValue(alias.Value.Value, out var target))
                        {
                            failure = new("DG1002", $"alias `*{alias.Value.Value}` names no anchor", At(e));
                            return null;
                        }
                        if (!Add(target.Node, target.Size, At(e), ref failure)) return null;
                        break;
                }
            }
        }
        catch (YamlException ex)
        {
            var message = ex.Message;
            var close = message.IndexOf("): ", StringComparison.Ordinal);
            if (message.StartsWith('(') && close > 0) message = message[(close + 3)..];
            failure = new("DG1002", $"yaml syntax: {LowerFirst(message.TrimEnd('.'))}",
                new SourceSpan((int)Math.Max(1, ex.Start.Line), (int)Math.Max(1, ex.Start.Column)));
            return null;
        }
        return root;

        bool Add(YNode node, long size, SourceSpan at, ref Failure? fail)
        {
            if (stack.Count == 0)
            {
                root = node;
                return true;
            }
            var parent = stack.Peek();
            // Invariant: a frame's size counts every node it expands to, aliases included, so the
            // expanded size of the whole document is bounded as it is read.
            parent.Size += size;
            if (parent.Size > MaxExpandedNodes || stack.Sum(f => f.Size) > MaxExpandedNodes * 2)
            {
                fail = new("DG1003", $"document expands to more than {MaxExpandedNodes} nodes through aliases", at);
                return false;
            }
            if (parent.Node.Kind == YKind.Sequence)
            {
                parent.Node.Items.Add(node);
            }
            else if (parent.PendingKey is null)
            {
                parent.PendingKey = node;
            }
            else
            {
                parent.Node.Pairs.Add(new(parent.PendingKey, node));
                parent.PendingKey = null;
            }
            return true;
        }
    }

    private static SourceSpan At(ParsingEvent e) => new((int)Math.Max(1, e.Start.Line), (int)Math.Max(1, e.Start.Column));

    private static string LowerFirst(string s) => s.Length > 0 ? char.ToLowerInvariant(s[0]) + s[1..] : s;
}
