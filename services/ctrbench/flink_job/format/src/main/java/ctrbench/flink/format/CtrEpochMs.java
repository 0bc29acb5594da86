package ctrbench.flink.format;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code CTR_EPOCH_MS(ts)}: a TIMESTAMP_LTZ(3) as epoch milliseconds (BIGINT). Flink SQL has no direct
 * cast; the SQL form ({@code TIMESTAMPDIFF} plus {@code EXTRACT(MILLISECOND ...)}) cost two date
 * computations at each of the half-dozen references per record to the broker time.
 */
public final class CtrEpochMs extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    public @DataTypeHint("BIGINT") Long eval(
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData ts) {
        return ts == null ? null : ts.getMillisecond();
    }
}
