package ctrbench.flink.format;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code CTR_EVENT_TIME(event_time_ns, broker_time, max_skew_ns)}: the record's event time for windows
 * and the watermark, TIMESTAMP_LTZ(3). It is {@code event_time_ns} (the events table's BIGINT column,
 * NULL when the field is not an integer by the event rule) truncated to milliseconds when it lies within
 * {@code max_skew_ns} of the broker time, bounds included; otherwise epoch 0, which can never move the
 * watermark forward.
 *
 * <p>One call per reference instead of the SQL {@code CASE} it replaces, which computed the broker time
 * in milliseconds twice, at each of its two references per record (the watermark and the window).
 */
public final class CtrEventTime extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private static final TimestampData EPOCH = TimestampData.fromEpochMillis(0);
    private static final long NS_PER_MS = 1_000_000L;

    public @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData eval(
            @DataTypeHint("BIGINT") Long eventTimeNs,
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData brokerTime,
            long maxSkewNs) {
        if (eventTimeNs == null || brokerTime == null) {
            return EPOCH;
        }
        long brokerNs = brokerTime.getMillisecond() * NS_PER_MS;
        long ns = eventTimeNs;
        if (ns < brokerNs - maxSkewNs || ns > brokerNs + maxSkewNs) {
            return EPOCH;
        }
        return TimestampData.fromEpochMillis(ns / NS_PER_MS);
    }
}
