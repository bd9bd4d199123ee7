export { KpiAccumulator, type KpiPartial, type TrackInfo, type GenreKpiRow, type HourlyKpiRow, type KpiTables } from './accumulator.ts';
export { compareCodePoints } from './compare.ts';
export { EventKeySet } from './event-key-set.ts';
export { UserHourMasks } from './user-hour-masks.ts';
