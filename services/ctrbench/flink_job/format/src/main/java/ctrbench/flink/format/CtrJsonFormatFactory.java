package ctrbench.flink.format;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.formats.json.JsonFormatFactory;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.Projection;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.format.ProjectableDecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;

import java.util.List;
import java.util.Set;

/**
 * Table format {@code ctr-json}: Flink's {@code json} decoding format with the same options, made
 * safe to use with {@code ignore-parse-errors}.
 *
 * <p>Flink's JSON deserializers hand each row to the collector inside the {@code try} that skips
 * parse errors. A source's collector runs the whole chain of operators behind it (calc, lookup join,
 * local aggregation, a chained sink writer), so with {@code ignore-parse-errors} a failure in any of
 * them (a lookup whose database is down, a sink that cannot write) was caught as a parse error and
 * the record dropped without a trace, while the job ran on. FLINK-36549 fixed the same flaw for the
 * CDC JSON formats, not for {@code json}. Here the record is parsed into a buffer first and handed on
 * afterwards, outside that {@code try}: unparseable records are still skipped, and any other failure
 * fails the task, which restarts from its checkpoint.
 *
 * <p>Unlike {@code json}, a top-level INT or BIGINT column holds the integer its field's text is by the
 * event rule, or NULL ({@link RuleColumns}): {@code "7"} is 7, {@code 7.5} is NULL, neither is a parse
 * error.
 *
 * <p>Records that are flat objects of plain strings and integers (what the producers write) are
 * decoded without Jackson when every column is text or such an integer ({@link FlatObjectDecoder}), to
 * the same rows.
 */
public final class CtrJsonFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "ctr-json";

    private final JsonFormatFactory json = new JsonFormatFactory();

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig formatOptions) {
        DecodingFormat<DeserializationSchema<RowData>> inner =
                json.createDecodingFormat(context, formatOptions);
        if (!(inner instanceof ProjectableDecodingFormat)) {
            throw new IllegalStateException(
                    "Flink's json format no longer supports projection; ctr-json needs updating");
        }
        return new Projectable((ProjectableDecodingFormat<DeserializationSchema<RowData>>) inner);
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return json.requiredOptions();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return json.optionalOptions();
    }

    @Override
    public Set<ConfigOption<?>> forwardOptions() {
        return json.forwardOptions();
    }

    /** The json decoding format with each runtime decoder wrapped in {@link ParseThenEmit}. */
    private static final class Projectable
            implements ProjectableDecodingFormat<DeserializationSchema<RowData>> {

        private final ProjectableDecodingFormat<DeserializationSchema<RowData>> inner;

        Projectable(ProjectableDecodingFormat<DeserializationSchema<RowData>> inner) {
            this.inner = inner;
        }

        @Override
        public DeserializationSchema<RowData> createRuntimeDecoder(
                DynamicTableSource.Context context, DataType physicalDataType, int[][] projections) {
            DataType produced = Projection.of(projections).project(physicalDataType);
            RuleColumns columns = RuleColumns.of(produced, projections);
            return new ParseThenEmit(
                    inner.createRuntimeDecoder(context, RuleColumns.asParsed(physicalDataType), projections),
                    columns,
                    flatDecoder(produced, projections, columns),
                    context.createTypeInformation(produced));
        }

        /** The fast path for rows of top-level text and integer fields (the job's events table), else null. */
        private static FlatObjectDecoder flatDecoder(DataType produced, int[][] projections, RuleColumns columns) {
            for (int[] path : projections) {
                if (path.length != 1) {
                    return null; // a nested field
                }
            }
            List<DataType> fields = DataType.getFieldDataTypes(produced);
            for (int f = 0; f < fields.size(); f++) {
                LogicalTypeRoot root = fields.get(f).getLogicalType().getTypeRoot();
                if (root != LogicalTypeRoot.VARCHAR && root != LogicalTypeRoot.CHAR && !columns.isInteger(f)) {
                    return null;
                }
            }
            return FlatObjectDecoder.forFields(DataType.getFieldNames(produced), columns);
        }

        @Override
        public boolean supportsNestedProjection() {
            return inner.supportsNestedProjection();
        }

        @Override
        public ChangelogMode getChangelogMode() {
            return inner.getChangelogMode();
        }
    }
}
