/** SPEC 4.1 */
export interface GenreKpiRow {
  listenDate: string;
  genre: string;
  listenCount: number;
  avgTrackDurationMs: number;
  avgPopularity: number;
  popularityIndex: number;
  mostPopularTrackId: string;
  mostPopularTrackName: string;
  mostPopularTrackPlays: number;
}

/** SPEC 4.2 */
export interface HourlyKpiRow {
  listenDate: string;
  listenHour: number;
  uniqueListeners: number;
  totalPlays: number;
  uniqueTracks: number;
  trackDiversityIndex: number;
  /** Null when no play of the hour has a catalogued track. */
  topArtist: string | null;
  topArtistPlays: number | null;
}

export interface KpiTables {
  genre: GenreKpiRow[];
  hourly: HourlyKpiRow[];
}
