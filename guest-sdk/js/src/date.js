// Calendar dates of the contract: proleptic Gregorian, no time, no zone. Arithmetic goes
// through a day count since 1970-01-01 (Howard Hinnant's days_from_civil), so no date
// library or time zone can change an answer.

const DATE_TEXT = /^(-?)(\d{4,9})-(\d{1,2})-(\d{1,2})$/;

function isLeap(year) {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year, month) {
  return month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1];
}

function daysFromCivil(year, month, day) {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days) {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return [year, month, day];
}

/** A calendar date, e.g. `CalendarDate.parse("2026-02-10")`. Immutable. */
export class CalendarDate {
  constructor(year, month, day) {
    if (!CalendarDate.isValid(year, month, day)) {
      throw new RangeError(`${year}-${month}-${day} is not a calendar date`);
    }
    this.year = year;
    this.month = month;
    this.day = day;
    Object.freeze(this);
  }

  /** Whether `year-month-day` is a real day (e.g. not February 30th). */
  static isValid(year, month, day) {
    return Number.isInteger(year) && Number.isInteger(month) && Number.isInteger(day)
      && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
  }

  /** Parses `YYYY-MM-DD` (one-digit months and days are accepted), or throws a RangeError. */
  static parse(text) {
    const m = DATE_TEXT.exec(String(text));
    const year = m ? Number(m[2]) * (m[1] ? -1 : 1) : NaN;
    if (!m || !CalendarDate.isValid(year, Number(m[3]), Number(m[4]))) {
      throw new RangeError(`${JSON.stringify(String(text))} is not a calendar date in the form YYYY-MM-DD`);
    }
    return new CalendarDate(year, Number(m[3]), Number(m[4]));
  }

  /** The date `days` days after 1970-01-01. */
  static fromDaysSinceEpoch(days) {
    // Indexed, not destructured: QuickJS destructures an array through its iterator.
    const ymd = civilFromDays(days);
    return new CalendarDate(ymd[0], ymd[1], ymd[2]);
  }

  /** Days since 1970-01-01 (negative before it). */
  daysSinceEpoch() {
    return daysFromCivil(this.year, this.month, this.day);
  }

  /** The date `days` days later (earlier for negative `days`). */
  addDays(days) {
    return CalendarDate.fromDaysSinceEpoch(this.daysSinceEpoch() + Number(days));
  }

  /** Days from this date to `later`; negative if `later` is earlier. */
  daysUntil(later) {
    return later.daysSinceEpoch() - this.daysSinceEpoch();
  }

  /** Days from `earlier` to this date; negative if `earlier` is later. */
  daysSince(earlier) {
    return this.daysSinceEpoch() - earlier.daysSinceEpoch();
  }

  /** -1, 0 or 1 as this date is before, on or after `other`. */
  compare(other) {
    // Field by field: cheaper in an interpreter than two day counts.
    if (this.year !== other.year) return this.year < other.year ? -1 : 1;
    if (this.month !== other.month) return this.month < other.month ? -1 : 1;
    return this.day === other.day ? 0 : this.day < other.day ? -1 : 1;
  }

  equals(other) { return this.compare(other) === 0; }
  before(other) { return this.compare(other) < 0; }
  after(other) { return this.compare(other) > 0; }

  /** The later of this date and `other`. */
  max(other) { return this.compare(other) >= 0 ? this : other; }
  /** The earlier of this date and `other`. */
  min(other) { return this.compare(other) <= 0 ? this : other; }

  /** `YYYY-MM-DD`, as the host writes dates. */
  toString() {
    return `${this.year < 0 ? '-' : ''}${pad(this.year, 4)}-${pad(this.month, 2)}-${pad(this.day, 2)}`;
  }

  toJSON() { return this.toString(); }
}

function pad(n, width) {
  return String(Math.abs(n)).padStart(width, '0');
}

/** `CalendarDate.parse` for text, the date itself for a date. */
export function date(value) {
  return value instanceof CalendarDate ? value : CalendarDate.parse(value);
}
