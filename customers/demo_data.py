"""Deterministic generator of realistic Japanese customer lists and purchase histories.

Writes ``customers.csv`` and ``purchases.csv`` the way a Japanese contact centre receives them:
Japanese headers, CRLF line ends, UTF-8 / UTF-8 with BOM / Shift_JIS (cp932). Used for the demo
(a few thousand customers, ``dirty=True`` to show the import's checks) and for the benchmark
(1,000,000 customers and 10,000,000 purchase lines, streamed to disk in chunks).

Shape of the purchase history (shares are of customers with at least one purchase unless noted):

* ~10 % of all customers never bought anything; ~35 % of buyers bought exactly once.
* Recency: ~55 % bought within the last 180 days, ~15 % 181-365 days ago, ~30 % longer ago.
* Lines are spread Pareto-like: the top 20 % of buyers bring roughly 70 % of the revenue.
* Seasonality: peaks in July (お中元) and December (お歳暮 / 年末), a smaller one in March, a dip in
  February; gifts sell mostly in those peaks. History covers 5 years before ``reference_date``.
* Orders have 1-3 lines that share a 注文番号; the file is in chronological order.

Everything is driven by ``random.Random`` seeded from ``seed``: the same arguments give the same
bytes. Memory is O(customers) (a few compact arrays and a heap of ints), never O(purchases).
"""

from __future__ import annotations

import codecs
import csv
import functools
import heapq
import os
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import jaconv

__all__ = [
    "CUSTOMER_HEADER",
    "PURCHASE_HEADER",
    "GeneratedFiles",
    "generate",
]

CUSTOMER_HEADER: tuple[str, ...] = (
    "顧客ID",
    "氏名",
    "フリガナ",
    "性別",
    "生年月日",
    "電話番号",
    "携帯電話",
    "メールアドレス",
    "郵便番号",
    "都道府県",
    "住所",
    "会員ランク",
    "興味",
)
PURCHASE_HEADER: tuple[str, ...] = (
    "注文番号",
    "明細番号",
    "顧客ID",
    "購入日時",
    "商品コード",
    "商品名",
    "カテゴリ",
    "数量",
    "単価",
    "金額",
)

CUSTOMERS_FILE = "customers.csv"
PURCHASES_FILE = "purchases.csv"

YEARS_OF_HISTORY = 5
NO_PURCHASE_SHARE = 0.10  # of all customers
ONE_TIME_SHARE = 0.35  # of buyers
#: (bought within 180 days, 181-365 days ago, more than 365 days ago) per kind of buyer; with 35 %
#: one-time buyers this gives ~55 % / ~15 % / ~30 % over all buyers.
_RECENCY_ONCE = (0.38, 0.17, 0.45)
_RECENCY_REPEAT = (0.642, 0.139, 0.219)
_PARETO_ALPHA = 1.1
_PARETO_CAP = 150.0
_HOUSEHOLD_SHARE = 0.01  # shares surname, address and landline with the previous customer

_CHUNK_ROWS = 20_000

_NONE, _ONCE, _REPEAT = 0, 1, 2
_NO_CATEGORY = 255


@dataclass(frozen=True)
class GeneratedFiles:
    """Paths of the generated files and how many data rows (without header) each holds."""

    customers: Path
    purchases: Path
    customers_rows: int
    purchases_rows: int


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------

# Surname, katakana reading, relative frequency (roughly people in 10,000s).
_SURNAMES_TEXT = """
佐藤 サトウ 187|鈴木 スズキ 178|高橋 タカハシ 142|田中 タナカ 134|伊藤 イトウ 108
渡辺 ワタナベ 107|山本 ヤマモト 107|中村 ナカムラ 105|小林 コバヤシ 104|加藤 カトウ 89
吉田 ヨシダ 84|山田 ヤマダ 82|佐々木 ササキ 68|山口 ヤマグチ 64|松本 マツモト 63
井上 イノウエ 61|木村 キムラ 58|林 ハヤシ 55|斎藤 サイトウ 55|清水 シミズ 54|山崎 ヤマザキ 48
森 モリ 47|池田 イケダ 44|橋本 ハシモト 44|阿部 アベ 44|石川 イシカワ 43|山下 ヤマシタ 42
中島 ナカジマ 41|石井 イシイ 40|小川 オガワ 40|前田 マエダ 39|岡田 オカダ 39|長谷川 ハセガワ 38
藤田 フジタ 38|後藤 ゴトウ 37|近藤 コンドウ 37|村上 ムラカミ 36|遠藤 エンドウ 34|青木 アオキ 34
坂本 サカモト 33|斉藤 サイトウ 33|福田 フクダ 33|太田 オオタ 32|西村 ニシムラ 32|藤井 フジイ 32
金子 カネコ 31|岡本 オカモト 31|藤原 フジワラ 31|中野 ナカノ 30|三浦 ミウラ 30|原田 ハラダ 30
中川 ナカガワ 29|松田 マツダ 29|竹内 タケウチ 29|小野 オノ 29|田村 タムラ 28|中山 ナカヤマ 28
和田 ワダ 27|石田 イシダ 27|森田 モリタ 27|上田 ウエダ 27|原 ハラ 26|内田 ウチダ 26
柴田 シバタ 26|酒井 サカイ 26|宮崎 ミヤザキ 25|横山 ヨコヤマ 25|高木 タカギ 25|安藤 アンドウ 25
宮本 ミヤモト 24|大野 オオノ 24|小島 コジマ 24|谷口 タニグチ 24|今井 イマイ 24|工藤 クドウ 23
高田 タカダ 23|増田 マスダ 23|丸山 マルヤマ 23|杉山 スギヤマ 23|村田 ムラタ 22|大塚 オオツカ 22
新井 アライ 22|小山 コヤマ 22|平野 ヒラノ 22|藤本 フジモト 22|河野 コウノ 21|上野 ウエノ 21
野口 ノグチ 21|武田 タケダ 21|松井 マツイ 21|千葉 チバ 21|岩崎 イワサキ 21|菅原 スガワラ 20
木下 キノシタ 20|久保 クボ 20|佐野 サノ 20|野村 ノムラ 20|松尾 マツオ 20|市川 イチカワ 20
菊地 キクチ 19|杉本 スギモト 19|古川 フルカワ 19|大西 オオニシ 19|島田 シマダ 19|水野 ミズノ 19
桜井 サクライ 18|高野 タカノ 18|渡部 ワタナベ 18|吉川 ヨシカワ 18|山内 ヤマウチ 18
西田 ニシダ 18|飯田 イイダ 18|菊池 キクチ 18|西川 ニシカワ 18|小松 コマツ 17|北村 キタムラ 17
安田 ヤスダ 17|五十嵐 イガラシ 17|川口 カワグチ 17|平田 ヒラタ 17|関 セキ 17|中田 ナカタ 17
久保田 クボタ 17|服部 ハットリ 17|東 ヒガシ 16|岩田 イワタ 16|土屋 ツチヤ 16|川崎 カワサキ 16
福島 フクシマ 16|本田 ホンダ 16
"""

# Given names by generation: born before 1965 / 1965-1989 / 1990 and later.
_MALE_NAMES_TEXT = (
    """
清 キヨシ|茂 シゲル|博 ヒロシ|実 ミノル|勝 マサル|進 ススム|勇 イサム|正 タダシ|武 タケシ
修 オサム|隆 タカシ|明 アキラ|弘 ヒロシ|健一 ケンイチ|和夫 カズオ|昭 アキラ|正雄 マサオ
幸雄 ユキオ|豊 ユタカ|稔 ミノル|誠 マコト|浩 ヒロシ|光男 ミツオ|秀夫 ヒデオ|義雄 ヨシオ
一郎 イチロウ|三郎 サブロウ|健二 ケンジ|孝 タカシ|功 イサオ|敏夫 トシオ|昭二 ショウジ
貞夫 サダオ|久雄 ヒサオ|忠 タダシ|哲也 テツヤ|正和 マサカズ|俊夫 トシオ|博之 ヒロユキ
英樹 ヒデキ
""",
    """
大輔 ダイスケ|健太 ケンタ|拓也 タクヤ|直樹 ナオキ|和也 カズヤ|達也 タツヤ|剛 ツヨシ
翔太 ショウタ|大介 ダイスケ|浩二 コウジ|学 マナブ|聡 サトシ|亮 リョウ|健 ケン|修平 シュウヘイ
雄一 ユウイチ|康弘 ヤスヒロ|智之 トモユキ|秀樹 ヒデキ|伸也 シンヤ|淳 ジュン|慎一 シンイチ
洋平 ヨウヘイ|将太 ショウタ|雅人 マサト|誠司 セイジ|陽介 ヨウスケ|健介 ケンスケ|隆之 タカユキ
俊介 シュンスケ|亮太 リョウタ|翔 ショウ|大樹 ダイキ|裕太 ユウタ|貴之 タカユキ|竜也 タツヤ
圭介 ケイスケ|純一 ジュンイチ|和宏 カズヒロ|太郎 タロウ
""",
    """
蓮 レン|大翔 ヒロト|悠真 ユウマ|陽翔 ハルト|湊 ミナト|颯太 ソウタ|悠斗 ユウト|大和 ヤマト
樹 イツキ|陸 リク|蒼 アオイ|優斗 ユウト|翼 ツバサ|海斗 カイト|拓海 タクミ|健斗 ケント|駿 シュン
陽太 ヨウタ|颯 ハヤテ|涼太 リョウタ|匠 タクミ|航 ワタル|隼人 ハヤト|直人 ナオト|大地 ダイチ
優太 ユウタ|光 ヒカル|和真 カズマ|奏太 ソウタ|翔平 ショウヘイ|空 ソラ|蒼空 ソラ|陸斗 リクト
瑛太 エイタ|晴 ハル|朝陽 アサヒ|琉生 ルイ|壮真 ソウマ|智也 トモヤ|悠人 ユウト
""",
)
_FEMALE_NAMES_TEXT = (
    """
和子 カズコ|幸子 サチコ|節子 セツコ|洋子 ヨウコ|恵子 ケイコ|京子 キョウコ|久美子 クミコ
美智子 ミチコ|弘子 ヒロコ|良子 ヨシコ|順子 ジュンコ|悦子 エツコ|文子 フミコ|信子 ノブコ
照子 テルコ|和代 カズヨ|静子 シズコ|千代子 チヨコ|昌子 マサコ|恵美子 エミコ|裕子 ユウコ
由美子 ユミコ|紀子 ノリコ|典子 ノリコ|幸江 ユキエ|光子 ミツコ|敏子 トシコ|明美 アケミ
孝子 タカコ|君子 キミコ|友子 トモコ|浩子 ヒロコ|清子 キヨコ|美代子 ミヨコ|真理子 マリコ
直子 ナオコ|陽子 ヨウコ|由紀子 ユキコ|康子 ヤスコ|百合子 ユリコ
""",
    """
智子 トモコ|直美 ナオミ|恵 メグミ|久美 クミ|由美 ユミ|美穂 ミホ|真由美 マユミ|香織 カオリ
愛 アイ|裕美 ヒロミ|麻衣 マイ|彩 アヤ|明日香 アスカ|美紀 ミキ|純子 ジュンコ|敦子 アツコ
千春 チハル|奈美 ナミ|理恵 リエ|由香 ユカ|絵美 エミ|亜希子 アキコ|美香 ミカ|沙織 サオリ
麻美 アサミ|舞 マイ|瞳 ヒトミ|綾 アヤ|友美 トモミ|佳子 ヨシコ|聡子 サトコ|さやか サヤカ
めぐみ メグミ|優子 ユウコ|早苗 サナエ|朋子 トモコ|千尋 チヒロ|真紀 マキ|奈緒子 ナオコ|美和 ミワ
梓 アズサ
""",
    """
陽菜 ヒナ|結衣 ユイ|葵 アオイ|結愛 ユア|凛 リン|美咲 ミサキ|さくら サクラ|莉子 リコ|芽依 メイ
美月 ミツキ|楓 カエデ|花 ハナ|優奈 ユウナ|彩花 アヤカ|七海 ナナミ|杏 アン|心春 コハル|紬 ツムギ
美羽 ミウ|愛菜 マナ|真央 マオ|遥 ハルカ|菜々子 ナナコ|千夏 チナツ|琴音 コトネ|萌 モエ
日向 ヒナタ|彩乃 アヤノ|優花 ユウカ|美優 ミユ|沙也加 サヤカ|愛梨 アイリ|未来 ミライ|結菜 ユイナ
菜月 ナツキ|杏奈 アンナ|愛美 マナミ|詩織 シオリ|茜 アカネ|栞 シオリ
""",
)

# Prefecture, population (10,000s), then its cities as name/area code/postal prefix/weight
# (indented lines continue the prefecture above).
_PREFECTURES_TEXT = """
北海道 522 札幌市中央区/011/060/4 札幌市北区/011/001/3 旭川市/0166/070/2 函館市/0138/040/2
    釧路市/0154/085/1
青森県 124 青森市/017/030/3 八戸市/0178/031/2 弘前市/0172/036/2
岩手県 121 盛岡市/019/020/3 一関市/0191/021/1 奥州市/0197/023/1
宮城県 230 仙台市青葉区/022/980/4 仙台市泉区/022/981/2 石巻市/0225/986/1
秋田県 96 秋田市/018/010/3 横手市/0182/013/1
山形県 107 山形市/023/990/3 鶴岡市/0235/997/1
福島県 183 福島市/024/960/2 郡山市/024/963/2 いわき市/0246/970/2
茨城県 287 水戸市/029/310/3 つくば市/029/305/2 日立市/0294/317/2
栃木県 193 宇都宮市/028/320/3 小山市/0285/323/1
群馬県 194 前橋市/027/371/2 高崎市/027/370/2 太田市/0276/373/1
埼玉県 734 さいたま市浦和区/048/330/3 さいたま市大宮区/048/330/3 川口市/048/332/3
    川越市/049/350/2 越谷市/048/343/2
千葉県 628 千葉市中央区/043/260/3 船橋市/047/273/3 松戸市/047/271/2 市川市/047/272/2
東京都 1405 千代田区/03/101/1 新宿区/03/160/3 世田谷区/03/154/5 練馬区/03/176/4 大田区/03/144/4
    江戸川区/03/132/4 八王子市/042/192/3 町田市/042/194/2
神奈川県 924 横浜市中区/045/231/2 横浜市港北区/045/222/3 川崎市中原区/044/211/3
    相模原市中央区/042/252/2 藤沢市/0466/251/2 横須賀市/046/238/2
新潟県 220 新潟市中央区/025/950/3 長岡市/0258/940/2
富山県 103 富山市/076/930/3 高岡市/0766/933/1
石川県 113 金沢市/076/920/3 小松市/0761/923/1
福井県 77 福井市/0776/910/3 敦賀市/0770/914/1
山梨県 81 甲府市/055/400/3 富士吉田市/0555/403/1
長野県 205 長野市/026/380/3 松本市/0263/390/2
岐阜県 198 岐阜市/058/500/3 大垣市/0584/503/1
静岡県 363 静岡市葵区/054/420/3 浜松市中央区/053/430/3 沼津市/055/410/1
愛知県 754 名古屋市中区/052/460/3 名古屋市千種区/052/464/3 名古屋市緑区/052/458/2
    豊田市/0565/471/2 岡崎市/0564/444/2 豊橋市/0532/440/2
三重県 177 津市/059/514/2 四日市市/059/510/2
滋賀県 141 大津市/077/520/2 草津市/077/525/1
京都府 258 京都市中京区/075/604/3 京都市左京区/075/606/2 宇治市/0774/611/1
大阪府 884 大阪市北区/06/530/3 大阪市中央区/06/540/2 大阪市天王寺区/06/543/2 堺市堺区/072/590/2
    豊中市/06/560/2 東大阪市/06/577/2 枚方市/072/573/2
兵庫県 547 神戸市中央区/078/650/3 神戸市東灘区/078/658/2 姫路市/079/670/3 西宮市/0798/662/2
    尼崎市/06/660/2
奈良県 132 奈良市/0742/630/3 橿原市/0744/634/1
和歌山県 92 和歌山市/073/640/3 田辺市/0739/646/1
鳥取県 55 鳥取市/0857/680/2 米子市/0859/683/2
島根県 67 松江市/0852/690/2 出雲市/0853/693/2
岡山県 189 岡山市北区/086/700/3 倉敷市/086/710/2
広島県 280 広島市中区/082/730/4 福山市/084/720/2 呉市/0823/737/1
山口県 134 山口市/083/753/2 下関市/083/750/2
徳島県 72 徳島市/088/770/3 阿南市/0884/774/1
香川県 95 高松市/087/760/3 丸亀市/0877/763/1
愛媛県 133 松山市/089/790/3 今治市/0898/794/1
高知県 69 高知市/088/780/3 四万十市/0880/787/1
福岡県 514 福岡市中央区/092/810/3 福岡市博多区/092/812/3 北九州市小倉北区/093/802/2
    久留米市/0942/830/1
佐賀県 81 佐賀市/0952/840/2 唐津市/0955/847/1
長崎県 131 長崎市/095/850/2 佐世保市/0956/857/1
熊本県 174 熊本市中央区/096/860/3 八代市/0965/866/1
大分県 112 大分市/097/870/3 別府市/0977/874/1
宮崎県 107 宮崎市/0985/880/3 都城市/0986/885/1
鹿児島県 159 鹿児島市/099/890/3 霧島市/0995/899/1
沖縄県 147 那覇市/098/900/3 沖縄市/098/904/2 浦添市/098/901/1
"""

_TOWNS = (
    "本町",
    "中央",
    "栄町",
    "緑町",
    "旭町",
    "東町",
    "西町",
    "南町",
    "北町",
    "幸町",
    "若葉",
    "桜木町",
    "花園",
    "新町",
    "大和町",
    "宮前",
    "青葉台",
    "富士見",
    "松原",
    "泉町",
    "住吉町",
    "昭和町",
)
_BUILDINGS = (
    "グランドハイツ",
    "サンコーポ",
    "メゾン",
    "パークマンション",
    "ハイツ",
    "レジデンス",
    "コーポ",
    "ヴィラ",
)

# Product code, name, category, unit price (yen), relative popularity.
_PRODUCTS_TEXT = """
食品|北海道産 いくら醤油漬 250g|4980|3
食品|国産 うなぎ蒲焼 2尾|5400|3
食品|讃岐うどん 詰め合わせ|2160|4
食品|紀州南高梅 はちみつ漬 1kg|3980|3
食品|魚沼産コシヒカリ 5kg|4280|5
食品|黒毛和牛 すき焼き用 500g|8640|2
食品|辛子明太子 切子 500g|2980|4
食品|信州そば 8人前|1980|3
飲料|静岡県産 深蒸し煎茶 100g|1620|5
飲料|有機栽培 ルイボスティー 30包|1280|3
飲料|ドリップコーヒー 50袋|2480|5
飲料|純米大吟醸 720ml|3300|2
飲料|国産 果汁100% ジュース 詰め合わせ|3240|2
飲料|天然水 2L×6本|980|4
飲料|芋焼酎 1.8L|2750|2
化粧品|薬用美白美容液 30ml|5500|3
化粧品|オールインワンゲル 100g|3850|4
化粧品|保湿化粧水 200ml|2200|4
化粧品|日焼け止めミルク SPF50+|1650|3
化粧品|クレンジングオイル 150ml|1980|3
化粧品|エイジングケアクリーム 30g|7700|2
健康食品|青汁 30包|3240|5
健康食品|グルコサミン＆コンドロイチン 180粒|4320|4
健康食品|乳酸菌サプリメント 60粒|2980|4
健康食品|黒酢もろみカプセル 90粒|2592|3
健康食品|DHA・EPA 120粒|3780|3
健康食品|ソイプロテイン 1kg|3480|2
健康食品|マルチビタミン 90日分|1980|3
家電|電気圧力鍋 3.0L|19800|1
家電|ヘアドライヤー 大風量|12800|1
家電|コードレス掃除機|29800|1
家電|空気清浄機 18畳|24800|1
家電|電気ケトル 0.8L|3980|2
家電|マッサージクッション|9800|1
家電|衣類スチーマー|6980|1
衣料|綿混 長袖ポロシャツ|3990|2
衣料|軽量ダウンジャケット|7990|1
衣料|あったか肌着 上下セット|2990|3
衣料|ストレッチパンツ|3490|2
衣料|綿100% パジャマ|4290|2
衣料|ウォーキングシューズ|6990|1
衣料|婦人 カーディガン|4990|2
雑貨|今治タオル フェイスタオル 3枚組|2640|3
雑貨|有田焼 マグカップ ペア|3300|2
雑貨|保温保冷 ステンレスボトル 500ml|2480|2
雑貨|アロマディフューザー|4400|1
雑貨|晴雨兼用 折りたたみ傘|2980|2
雑貨|低反発 まくら|5280|1
雑貨|竹製 まな板|1870|2
ギフト|洋菓子 詰め合わせ|3240|3
ギフト|高級 そうめん 詰め合わせ|3780|2
ギフト|名産 ハム ギフトセット|5400|2
ギフト|フルーツゼリー 詰め合わせ|3240|2
ギフト|カタログギフト Aコース|5500|2
ギフト|老舗 和菓子 詰め合わせ|4320|2
ギフト|産地直送 メロン 2玉|8640|1
ギフト|ビール ギフトセット|4950|2
ペット用品|国産 無添加 ドッグフード 3kg|4180|3
ペット用品|キャットフード まぐろ味 2kg|2480|3
ペット用品|ペット用 消臭シート 100枚|1580|3
ペット用品|猫砂 ひのき 7L|1280|2
ペット用品|犬用 ささみジャーキー|980|2
ペット用品|ペット用 ベッド|3980|1
書籍|季節の料理レシピ集|1650|2
書籍|健康ウォーキング入門|1540|1
書籍|日本の名城 写真集|3080|1
書籍|大人の塗り絵 花|1320|1
書籍|家庭菜園 はじめてガイド|1760|1
書籍|脳活 パズル|1100|2
書籍|旅行ガイド 京都|1430|1
"""

# How much each category sells, and per-month multipliers on top of the calendar's seasonality.
_CATEGORY_WEIGHT = {
    "食品": 20,
    "飲料": 14,
    "化粧品": 12,
    "健康食品": 14,
    "家電": 4,
    "衣料": 8,
    "雑貨": 7,
    "ギフト": 8,
    "ペット用品": 7,
    "書籍": 4,
}
_CATEGORY_MONTH_BOOST = {
    "ギフト": {6: 1.8, 7: 4.5, 8: 1.5, 11: 2.0, 12: 4.5},
    "飲料": {7: 1.3, 8: 1.4},
    "家電": {7: 1.3, 12: 1.6, 3: 1.3},
    "衣料": {3: 1.3, 10: 1.2, 11: 1.4},
}
_BULK_CATEGORIES = frozenset({"食品", "飲料", "健康食品", "ペット用品"})

# Interests, and the category a customer with that interest buys more of.
_INTERESTS = {
    "旅行": None,
    "ゴルフ": None,
    "料理": "食品",
    "美容": "化粧品",
    "健康": "健康食品",
    "ワイン": "飲料",
    "日本酒": "飲料",
    "ペット": "ペット用品",
    "読書": "書籍",
    "ガーデニング": "雑貨",
    "ファッション": "衣料",
    "スイーツ": "ギフト",
    "家電": "家電",
    "温泉": None,
    "映画": None,
    "音楽": None,
    "釣り": None,
    "アウトドア": None,
}

_EMAIL_DOMAINS = (
    ("gmail.com", 30),
    ("yahoo.co.jp", 20),
    ("icloud.com", 10),
    ("docomo.ne.jp", 9),
    ("ezweb.ne.jp", 5),
    ("au.com", 3),
    ("softbank.ne.jp", 4),
    ("i.softbank.jp", 3),
    ("outlook.jp", 4),
    ("hotmail.co.jp", 3),
    ("nifty.com", 2),
    ("biglobe.ne.jp", 2),
    ("sakura-shoji.co.jp", 1),
    ("marumitsu-sangyo.co.jp", 1),
    ("hinode-denki.co.jp", 1),
    ("kawakami-kensetsu.co.jp", 1),
    ("tohoku-unyu.co.jp", 1),
)
_EMAIL_PATTERNS = (
    "{g}.{s}",
    "{s}.{g}",
    "{g}{s}",
    "{g}_{s}",
    "{s}-{g}",
    "{gi}.{s}",
    "{g}{yy}",
    "{s}{yy}",
    "{g}.{s}{mmdd}",
    "{s}{g}{yy}",
    "{g}{mmdd}",
    "{s}.{g}{yyyy}",
)

_MOBILE_PREFIXES = ("090", "080", "070")
_MEMBER_RANKS = ("一般", "シルバー", "ゴールド", "プラチナ")

# Seasonality of purchases per month, and orders per hour of the day.
_MONTH_FACTOR = (0.95, 0.65, 1.15, 0.9, 0.95, 1.0, 1.45, 1.0, 0.85, 0.9, 1.05, 1.6)
_HOUR_WEIGHT = (
    0.6, 0.3, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.2, 2.8, 2.9,
    3.0, 2.8, 2.7, 2.6, 2.5, 2.6, 2.9, 3.3, 3.8, 4.0, 3.2, 1.8,
)  # fmt: skip

_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


@dataclass(frozen=True)
class _Name:
    kanji: str
    kana: str
    romaji: tuple[str, str]  # as read (satou) and with long vowels shortened (sato)


@dataclass(frozen=True)
class _City:
    prefecture: str
    name: str
    area_code: str
    postal_prefix: str


@dataclass(frozen=True)
class _Product:
    code: str
    name: str
    category: str
    price: int
    weight: int


def _romaji(kana: str) -> tuple[str, str]:
    full = jaconv.kana2alphabet(jaconv.kata2hira(kana))
    return full, full.replace("ou", "o").replace("uu", "u").replace("oo", "o")


def _parse_names(text: str, with_weight: bool) -> tuple[list[_Name], list[float]]:
    names: list[_Name] = []
    weights: list[float] = []
    for entry in text.replace("\n", "|").split("|"):
        if not entry.strip():
            continue
        parts = entry.split()
        names.append(_Name(parts[0], parts[1], _romaji(parts[1])))
        weights.append(float(parts[2]) if with_weight else 1.0)
    return names, weights


@functools.cache
def _reference() -> dict:
    """Parse the reference tables once per process."""
    surnames, surname_weights = _parse_names(_SURNAMES_TEXT, with_weight=True)
    male = [_parse_names(text, with_weight=False)[0] for text in _MALE_NAMES_TEXT]
    female = [_parse_names(text, with_weight=False)[0] for text in _FEMALE_NAMES_TEXT]
    prefectures: list[str] = []
    prefecture_weights: list[float] = []
    cities: list[list[_City]] = []
    city_weights: list[list[float]] = []
    for token in _PREFECTURES_TEXT.split():
        if "/" in token:
            city, area, postal, weight = token.split("/")
            cities[-1].append(_City(prefectures[-1], city, area, postal))
            city_weights[-1].append(float(weight))
        elif token.isdigit():
            prefecture_weights.append(float(token))
        else:
            prefectures.append(token)
            cities.append([])
            city_weights.append([])
    products = []
    for number, line in enumerate(_PRODUCTS_TEXT.strip().splitlines()):
        category, name, price, weight = line.split("|")
        products.append(_Product(f"P{10001 + number}", name, category, int(price), int(weight)))
    return {
        "surnames": surnames,
        "surname_weights": surname_weights,
        "male": male,
        "female": female,
        "prefectures": prefectures,
        "prefecture_weights": prefecture_weights,
        "cities": cities,
        "city_weights": city_weights,
        "products": products,
        "categories": list(_CATEGORY_WEIGHT),
    }


def _lookup_table(rng: random.Random, items: Sequence, weights: Sequence[float], bits: int) -> list:
    """A table of 2**bits weighted draws: ``table[getrandbits(bits)]`` is a fast weighted choice."""
    return rng.choices(items, weights=weights, k=1 << bits)


class _Permutation:
    """A keyed bijection of ``range(size)`` (4-round Feistel network with cycle walking).

    Used to hand out phone numbers that look random but can never repeat.
    """

    def __init__(self, size: int, key: int) -> None:
        bits = max(2, (size - 1).bit_length())
        bits += bits & 1
        self._size = size
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = tuple(
            (key * 0x9E3779B97F4A7C15 + (r + 1) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
            for r in range(4)
        )

    def __call__(self, x: int) -> int:
        half, mask, size = self._half, self._mask, self._size
        while True:
            left, right = x >> half, x & mask
            for k in self._keys:
                f = ((((right ^ k) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF) >> 29) & mask
                left, right = right, left ^ f
            x = (left << half) | right
            if x < size:
                return x


@functools.cache
def _valid_first_digits(area_code: str) -> tuple[str, ...]:
    """Subscriber first digits (2-9) that make a valid number with this area code."""
    import phonenumbers  # only needed when customers are generated

    subscriber_length = 10 - len(area_code)
    valid = []
    for digit in "23456789":
        number = phonenumbers.parse(area_code + digit + "0" * (subscriber_length - 1), "JP")
        if phonenumbers.is_valid_number(number):
            valid.append(digit)
    return tuple(valid)


class _Landlines:
    """Unique landline numbers per city (its real area code), formatted 03-1234-5678."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._state: dict[str, tuple[_Permutation, tuple[str, ...], int]] = {}
        self._issued: dict[str, int] = {}

    def next(self, area_code: str) -> str:
        state = self._state.get(area_code)
        if state is None:
            digits = _valid_first_digits(area_code)
            rest = 10 ** (9 - len(area_code))
            key = self._seed * 1_000_003 + int(area_code)
            state = (_Permutation(len(digits) * rest, key), digits, rest)
            self._state[area_code] = state
        permutation, digits, rest = state
        issued = self._issued.get(area_code, 0)
        self._issued[area_code] = issued + 1
        value = permutation(issued % (len(digits) * rest))
        subscriber = digits[value // rest] + str(value % rest).zfill(9 - len(area_code))
        split = len(subscriber) - 4
        return f"{area_code}-{subscriber[:split]}-{subscriber[split:]}"


class _Mobiles:
    """Unique mobile numbers 090/080/070-[1-9]XXX-XXXX."""

    _BLOCK = 9 * 10**7

    def __init__(self, seed: int) -> None:
        self._permutation = _Permutation(len(_MOBILE_PREFIXES) * self._BLOCK, seed * 7 + 3)
        self._issued = 0

    def next(self) -> str:
        value = self._permutation(self._issued)
        self._issued += 1
        prefix, rest = divmod(value, self._BLOCK)
        digits = str(10**7 + rest)  # first digit 1-9, then 7 digits
        return f"{_MOBILE_PREFIXES[prefix]}-{digits[:4]}-{digits[4:]}"


# --------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------


class _Calendar:
    """Days of the history window with seasonal weights, for drawing purchase dates."""

    def __init__(self, reference_date: date) -> None:
        try:
            start = reference_date.replace(year=reference_date.year - YEARS_OF_HISTORY)
        except ValueError:  # 29 February
            start = reference_date.replace(year=reference_date.year - YEARS_OF_HISTORY, day=28)
        self.start = start
        self.days = (reference_date - start).days
        self.cumulative = [0.0]
        self.date_text: list[str] = []
        self.month: bytearray = bytearray()
        total = 0.0
        for offset in range(self.days):
            day = start + timedelta(days=offset)
            weight = _MONTH_FACTOR[day.month - 1]
            if (day.month == 7 and day.day <= 15) or (day.month == 12 and day.day <= 25):
                weight *= 1.2  # お中元 / お歳暮 and Christmas
            if day.month == 1 and day.day <= 3:
                weight *= 0.7
            if day.weekday() >= 5:
                weight *= 1.15
            weight *= 1.0 + 0.04 * offset / 365.0  # slow growth
            total += weight
            self.cumulative.append(total)
            self.date_text.append(f"{day.year:04d}/{day.month:02d}/{day.day:02d}")
            self.month.append(day.month - 1)

    def draw(self, first: int, last: int, random_: Callable[[], float]) -> int:
        """A day index in ``[first, last]`` drawn with the seasonal weights."""
        cumulative = self.cumulative
        low, high = cumulative[first], cumulative[last + 1]
        day = bisect_right(cumulative, low + (high - low) * random_()) - 1
        return min(max(day, first), last)


# --------------------------------------------------------------------------------------------
# Plan: who buys, how much, and when they last bought
# --------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    kind: bytearray
    last_day: array
    lines: array


def _recency_day(
    calendar: _Calendar, shares: tuple[float, float, float], random_: Callable[[], float]
) -> int:
    """The day of the last purchase: within 180 days, 181-365 days, or over a year ago."""
    days = calendar.days
    r = random_()
    if r < shares[0] or days <= 366:
        first, last = max(0, days - 180), days - 1
    elif r < shares[0] + shares[1]:
        first, last = days - 365, days - 181
    else:
        first, last = 0, days - 366
    return calendar.draw(first, last, random_)


def _plan(n: int, total_lines: int, rng: random.Random, calendar: _Calendar) -> _Plan:
    """Decide each customer's kind, last purchase day and number of lines (summing exactly)."""
    random_ = rng.random
    kind = bytearray(n)
    last_day = array("i", bytes(4 * n))
    lines = array("q", bytes(8 * n))
    weight = array("d", bytes(8 * n))
    desired = bytearray(n)
    for i in range(n):
        if random_() < NO_PURCHASE_SHARE:
            continue
        if random_() < ONE_TIME_SHARE:
            kind[i] = _ONCE
            last_day[i] = _recency_day(calendar, _RECENCY_ONCE, random_)
            r = random_()
            desired[i] = 1 if r < 0.68 else 2 if r < 0.92 else 3
        else:
            kind[i] = _REPEAT
            day = _recency_day(calendar, _RECENCY_REPEAT, random_)
            last_day[i] = day
            age = calendar.days - day
            factor = 1.0 if age <= 180 else 0.6 if age <= 365 else 0.3
            weight[i] = min(rng.paretovariate(_PARETO_ALPHA), _PARETO_CAP) * factor

    once = array("i", (i for i in range(n) if kind[i] == _ONCE))
    repeat = array("i", (i for i in range(n) if kind[i] == _REPEAT))

    # Fewer lines than the minimum (1 per one-time buyer, 2 per repeat buyer): demote buyers.
    excess = len(once) + 2 * len(repeat) - total_lines
    while excess > 0 and repeat:
        i = repeat.pop()
        kind[i] = _ONCE
        once.append(i)
        excess -= 1
    while excess > 0:
        kind[once.pop()] = _NONE
        excess -= 1
    # More lines than one-time buyers can hold (3 each) and no repeat buyer: promote one.
    if not repeat and total_lines > 3 * len(once):
        if once:
            i = once.pop()
        else:  # nobody buys yet: the first customer does
            i = 0
            last_day[i] = _recency_day(calendar, _RECENCY_REPEAT, random_)
        if total_lines <= 3:  # only possible when nobody bought
            kind[i] = _ONCE
            desired[i] = 3
            once.append(i)
        else:
            kind[i] = _REPEAT
            weight[i] = 1.0
            repeat.append(i)

    extra = total_lines - len(once) - 2 * len(repeat)
    for i in once:
        add = min(max(desired[i], 1) - 1, extra)
        lines[i] = 1 + add
        extra -= add
    if repeat:
        scaled = [int(weight[i] * 1_000_000) + 1 for i in repeat]
        total_weight = sum(scaled)
        assigned = 0
        for i, w in zip(repeat, scaled, strict=True):
            share = extra * w // total_weight
            lines[i] = 2 + share
            assigned += share
        for i in rng.sample(repeat.tolist(), extra - assigned):
            lines[i] += 1
    else:
        for i in once:
            add = min(3 - lines[i], extra)
            lines[i] += add
            extra -= add
    return _Plan(kind, last_day, lines)


def _rank_thresholds(plan: _Plan) -> tuple[int, int, int]:
    """Lines needed for プラチナ (top 2 %), ゴールド (top 10 %), シルバー (top 30 %) of buyers."""
    n = len(plan.kind)
    step = max(1, n // 50_000)
    sample = sorted(plan.lines[i] for i in range(0, n, step) if plan.kind[i])
    if not sample:
        return (1, 1, 1)

    def top(share: float) -> int:
        return sample[min(len(sample) - 1, int(len(sample) * (1 - share)))]

    return top(0.02), top(0.10), top(0.30)


# --------------------------------------------------------------------------------------------
# Dirty data
# --------------------------------------------------------------------------------------------

# kind of mess: share of rows (at least one row each when the file is large enough)
_CUSTOMER_MESS = {
    "phone_fullwidth": 0.002,
    "phone_no_hyphen": 0.003,
    "email_messy": 0.003,
    "date_kanji": 0.0015,
    "date_wareki": 0.0015,
    "duplicate": 0.005,
    "bad_email": 0.0004,
    "bad_phone": 0.0004,
    "bad_date": 0.0004,
}
_PURCHASE_MESS = {
    "yen_prefix": 0.006,
    "yen_suffix": 0.006,
    "bad_amount": 0.0003,
}


def _mess_positions(rng: random.Random, rows: int, shares: dict[str, float]) -> dict[int, str]:
    """Pick which rows get which kind of mess (disjoint, deterministic)."""
    counts = {kind: max(1, round(rows * share)) for kind, share in shares.items()}
    # One of each kind first, so that even a tiny file shows every kind it has room for.
    kinds = list(counts) + [kind for kind, count in counts.items() for _ in range(count - 1)]
    positions = rng.sample(range(rows), min(rows, len(kinds)))
    return dict(zip(positions, kinds, strict=False))


def _wareki(day: date) -> str:
    """Japanese era date as written on forms: S60.4.12 / H2.1.8."""
    if day >= date(2019, 5, 1):
        return f"R{day.year - 2018}.{day.month}.{day.day}"
    if day >= date(1989, 1, 8):
        return f"H{day.year - 1988}.{day.month}.{day.day}"
    return f"S{day.year - 1925}.{day.month}.{day.day}"


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


def _open_csv(path: Path, encoding: str):
    handle = path.open("w", encoding=encoding, newline="")
    return handle, csv.writer(handle, lineterminator="\r\n")


def _write_customers(
    path: Path,
    plan: _Plan,
    *,
    seed: int,
    encoding: str,
    dirty: bool,
) -> tuple[int, bytearray]:
    """Write customers.csv; return its data row count and each customer's favourite category."""
    ref = _reference()
    n = len(plan.kind)
    rng = random.Random(f"{seed}:customers")
    random_ = rng.random
    bits = rng.getrandbits

    surnames: list[_Name] = ref["surnames"]
    surname_table = _lookup_table(rng, range(len(surnames)), ref["surname_weights"], 14)
    prefecture_table = _lookup_table(
        rng, range(len(ref["prefectures"])), ref["prefecture_weights"], 14
    )
    city_tables = [
        _lookup_table(rng, cities, weights, 6)
        for cities, weights in zip(ref["cities"], ref["city_weights"], strict=True)
    ]
    domains = _lookup_table(rng, [d for d, _ in _EMAIL_DOMAINS], [w for _, w in _EMAIL_DOMAINS], 10)
    interests = list(_INTERESTS)
    category_index = {name: k for k, name in enumerate(ref["categories"])}
    interest_category = [category_index[c] if c else _NO_CATEGORY for c in _INTERESTS.values()]
    platinum, gold, silver = _rank_thresholds(plan)
    birth_start = date(1940, 1, 1)
    birth_span = (date(2006, 12, 31) - birth_start).days
    birth_mode = (date(1966, 1, 1) - birth_start).days

    landlines = _Landlines(seed)
    mobiles = _Mobiles(seed)
    emails: set[str] = set()
    favourite = bytearray([_NO_CATEGORY]) * n
    mess = (
        _mess_positions(random.Random(f"{seed}:customer-mess"), n, _CUSTOMER_MESS) if dirty else {}
    )
    delayed: dict[int, list[list[str]]] = {}

    def email_for(g: str, s: str, born: date) -> str:
        pattern = _EMAIL_PATTERNS[int(random_() * len(_EMAIL_PATTERNS))]
        local = pattern.format(
            g=g,
            s=s,
            gi=g[0],
            yy=f"{born.year % 100:02d}",
            yyyy=born.year,
            mmdd=f"{born.month:02d}{born.day:02d}",
        )
        domain = domains[bits(10)]
        address = f"{local}@{domain}"
        limit = 99
        while address in emails:
            address = f"{local}{rng.randint(1, limit)}@{domain}"
            limit = limit * 10 + 9
        emails.add(address)
        return address

    household: tuple | None = None
    rows = 0
    handle, writer = _open_csv(path, encoding)
    with handle:
        writer.writerow(CUSTOMER_HEADER)
        chunk: list[list[str]] = []
        for i in range(n):
            # Who: gender, birth date, name (given names follow the generation).
            r = random_()
            gender = "男性" if r < 0.45 else "女性" if r < 0.98 else "その他" if r < 0.985 else ""
            born = birth_start + timedelta(days=int(rng.triangular(0, birth_span, birth_mode)))
            era = 0 if born.year < 1965 else 1 if born.year < 1990 else 2
            if random_() < 0.1:
                era = int(random_() * 3)
            is_male = gender == "男性" or (gender not in ("男性", "女性") and random_() < 0.5)
            pool = ref["male"][era] if is_male else ref["female"][era]
            given = pool[int(random_() * len(pool))]

            if household is not None and random_() < _HOUSEHOLD_SHARE:
                surname, prefecture, postal, address, landline = household
            else:
                surname = surnames[surname_table[bits(14)]]
                p = prefecture_table[bits(14)]
                prefecture = ref["prefectures"][p]
                city: _City = city_tables[p][bits(6)]
                postal = f"{city.postal_prefix}-{bits(14) % 10000:04d}"
                town = _TOWNS[int(random_() * len(_TOWNS))]
                address = (
                    f"{city.name}{town} {1 + int(random_() * 5)}-"
                    f"{1 + int(random_() * 30)}-{1 + int(random_() * 20)}"
                )
                if random_() < 0.2:
                    building = _BUILDINGS[int(random_() * len(_BUILDINGS))]
                    address += f" {building}{1 + int(random_() * 8)}0{1 + int(random_() * 9)}"
                landline_share = 0.88 if born.year < 1960 else 0.65 if born.year < 1980 else 0.32
                landline = landlines.next(city.area_code) if random_() < landline_share else None
                household = (surname, prefecture, postal, address, landline)

            mobile_share = 0.7 if born.year < 1955 else 0.84 if born.year < 1975 else 0.93
            mobile = mobiles.next() if random_() < mobile_share else None
            email_share = 0.55 if born.year < 1955 else 0.79 if born.year < 1975 else 0.9
            variant = int(random_() * 2)
            g, s = given.romaji[variant], surname.romaji[variant]
            email = email_for(g, s, born) if random_() < email_share else None

            k = 0 if random_() < 0.2 else 1 if random_() < 0.5 else 2 if random_() < 0.7 else 3
            tags = rng.sample(range(len(interests)), k)
            for t in tags:
                if interest_category[t] != _NO_CATEGORY:
                    favourite[i] = interest_category[t]
                    break

            lines = plan.lines[i]
            rank = 3 if lines >= platinum else 2 if lines >= gold else 1 if lines >= silver else 0
            if not plan.kind[i]:
                rank = 0
            if random_() < 0.08:
                rank = min(3, max(0, rank + (1 if random_() < 0.4 else -1)))

            row = [
                f"C{i + 1:07d}",
                f"{surname.kanji} {given.kanji}",
                f"{surname.kana} {given.kana}",
                gender,
                f"{born.year:04d}/{born.month:02d}/{born.day:02d}",
                landline or "",
                mobile or "",
                email or "",
                postal,
                prefecture,
                address,
                _MEMBER_RANKS[rank],
                "、".join(interests[t] for t in tags),
            ]
            if dirty and i in mess:
                kind = mess[i]
                if kind == "duplicate":
                    later = i + 1 + int(random_() * 200)
                    delayed.setdefault(later, []).append(row)
                elif kind in ("phone_fullwidth", "phone_no_hyphen", "bad_phone"):
                    column = 6 if row[6] or not row[5] else 5
                    number = row[column] or mobiles.next()
                    if kind == "phone_fullwidth":
                        row[column] = number.translate(_FULL_WIDTH)
                    elif kind == "phone_no_hyphen":
                        row[column] = number.replace("-", "")
                    else:
                        row[column] = str(10_000 + int(random_() * 90_000))
                elif kind in ("email_messy", "bad_email"):
                    address = row[7] or email_for(g, s, born)
                    local, domain = address.split("@")
                    if kind == "email_messy" and random_() < 0.5:
                        row[7] = f" {local}@{domain.upper()}  "
                    elif kind == "email_messy":
                        row[7] = f"  {local.capitalize()}@{domain.upper()} "
                    else:
                        row[7] = f"{local}@@{domain.split('.')[0]}"
                elif kind == "date_kanji":
                    row[4] = f"{born.year}年{born.month}月{born.day}日"
                elif kind == "date_wareki":
                    row[4] = _wareki(born)
                elif kind == "bad_date":
                    month, day = ((2, 30), (2, 31), (4, 31), (6, 31), (13, 1))[bits(10) % 5]
                    row[4] = f"{born.year}/{month:02d}/{day:02d}"
            chunk.append(row)
            if delayed:
                chunk.extend(delayed.pop(i, ()))
            if len(chunk) >= _CHUNK_ROWS:
                writer.writerows(chunk)
                rows += len(chunk)
                chunk.clear()
        for later in sorted(delayed):
            chunk.extend(delayed[later])
        writer.writerows(chunk)
        rows += len(chunk)
    return rows, favourite


# --------------------------------------------------------------------------------------------
# Purchases
# --------------------------------------------------------------------------------------------


def _write_purchases(
    path: Path,
    plan: _Plan,
    favourite: bytearray,
    calendar: _Calendar,
    *,
    seed: int,
    encoding: str,
    dirty: bool,
    total_lines: int,
) -> int:
    """Write purchases.csv in chronological order; return the number of data rows.

    Every buyer's orders are generated lazily: first order on a first day, the last one on the
    planned last day, the ones in between as sorted uniform draws on the seasonal time axis.
    A heap of ``minute << bits | customer`` ints merges all buyers into one chronological stream.
    """
    ref = _reference()
    products: list[_Product] = ref["products"]
    categories: list[str] = ref["categories"]
    rng = random.Random(f"{seed}:purchases")
    random_ = rng.random
    bits = rng.getrandbits

    # Per-month product tables (gifts in July and December …) and per-category tables.
    month_tables = []
    for month in range(1, 13):
        weights = [
            p.weight
            * _CATEGORY_WEIGHT[p.category]
            * _CATEGORY_MONTH_BOOST.get(p.category, {}).get(month, 1.0)
            / sum(q.weight for q in products if q.category == p.category)
            for p in products
        ]
        month_tables.append(_lookup_table(rng, range(len(products)), weights, 12))
    category_tables = []
    for category in categories:
        members = [k for k, p in enumerate(products) if p.category == category]
        category_tables.append(
            _lookup_table(rng, members, [products[k].weight for k in members], 10)
        )
    minute_table = _lookup_table(rng, range(1440), [_HOUR_WEIGHT[m // 60] for m in range(1440)], 13)
    time_text = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]
    product_text = [f"{p.code},{p.name},{p.category}" for p in products]
    prices = [p.price for p in products]
    bulk = [p.category in _BULK_CATEGORIES for p in products]
    bulk_quantities = [1] * 20 + [2] * 7 + [3] * 3 + [4, 6]
    single_quantities = [1] * 29 + [2] * 3

    n = len(plan.kind)
    shift = max(1, n.bit_length())
    mask = (1 << shift) - 1
    cumulative = calendar.cumulative
    month_of_day = calendar.month
    date_text = calendar.date_text

    remaining_orders = array("l", bytes(array("l").itemsize * n))
    remaining_lines = plan.lines  # consumed in place
    position = array("d", bytes(8 * n))
    end = array("d", bytes(8 * n))
    last_day = plan.last_day
    heap: list[int] = []
    for i in range(n):
        if not plan.kind[i]:
            continue
        lines = remaining_lines[i]
        last = last_day[i]
        if plan.kind[i] == _ONCE:
            orders, first = 1, last
        else:
            ratio = 1.35 + 0.5 * random_()
            orders = min(lines, max(2, -(-lines // 3), round(lines / ratio)))
            span = min(last, 30 + 8 * orders)
            first = int(random_() * (last - span + 1))
            position[i] = cumulative[first]
            end[i] = cumulative[last + 1]
        remaining_orders[i] = orders
        heap.append((first * 1440 + minute_table[bits(13)]) << shift | i)
    heapq.heapify(heap)

    mess = (
        _mess_positions(random.Random(f"{seed}:purchase-mess"), total_lines, _PURCHASE_MESS)
        if dirty
        else {}
    )
    yen = "¥"
    try:
        codecs.encode(yen, encoding)
    except UnicodeEncodeError:
        yen = "￥"  # cp932 has only the full-width yen sign

    heapreplace, heappop = heapq.heapreplace, heapq.heappop
    rows = 0
    order_number = 0
    # Clean values never need CSV quoting, so lines are plain f-strings (2-3x faster than
    # csv.writer); the rare messy values go through _csv_field.
    with path.open("w", encoding=encoding, newline="") as handle:
        handle.write(",".join(PURCHASE_HEADER) + "\r\n")
        chunk: list[str] = []
        append = chunk.append
        while heap:
            key = heap[0]
            i = key & mask
            minute = key >> shift
            orders = remaining_orders[i]
            lines = remaining_lines[i]

            # Lines in this order: about lines/orders, 1-3, leaving a feasible rest.
            count = int(lines / orders - 0.5 + 2.0 * random_())
            count = max(1, lines - 3 * (orders - 1), min(3, lines - (orders - 1), count))
            order_number += 1
            day, minute_of_day = divmod(minute, 1440)
            head = f"O{order_number:09d},"
            middle = f",C{i + 1:07d},{date_text[day]} {time_text[minute_of_day]},"
            month = month_of_day[day]
            favourite_category = favourite[i]
            previous = -1
            for line in range(1, count + 1):
                if favourite_category != _NO_CATEGORY and random_() < 0.45:
                    product = category_tables[favourite_category][bits(10)]
                else:
                    product = month_tables[month][bits(12)]
                if product == previous:
                    product = month_tables[month][bits(12)]
                previous = product
                quantity = (bulk_quantities if bulk[product] else single_quantities)[bits(5)]
                price = prices[product]
                if mess and rows in mess:
                    unit, amount = _messy_amounts(mess[rows], quantity, price, yen, random_)
                    append(
                        f"{head}{line}{middle}{product_text[product]},{quantity},{unit},{amount}\r\n"
                    )
                else:
                    append(
                        f"{head}{line}{middle}{product_text[product]},{quantity},{price},"
                        f"{quantity * price}\r\n"
                    )
                rows += 1
            if len(chunk) >= _CHUNK_ROWS:
                handle.write("".join(chunk))
                chunk.clear()

            orders -= 1
            remaining_orders[i] = orders
            remaining_lines[i] = lines - count
            if orders == 0:
                heappop(heap)
                continue
            if orders == 1:
                next_day = last_day[i]
            else:
                # Earliest of the (orders - 1) remaining in-between orders, uniform on the
                # seasonal axis between the current position and the last day.
                u = position[i]
                u += (end[i] - u) * (1.0 - random_() ** (1.0 / (orders - 1)))
                position[i] = u
                next_day = min(bisect_right(cumulative, u) - 1, last_day[i])
            next_minute = next_day * 1440 + minute_table[bits(13)]
            heapreplace(heap, max(next_minute, minute) << shift | i)
        handle.write("".join(chunk))
    return rows


def _csv_field(value: str) -> str:
    """Quote a value for CSV when it needs it (the messy amounts contain commas)."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _messy_amounts(
    kind: str, quantity: int, price: int, yen: str, random_: Callable[[], float]
) -> tuple[str, str]:
    """単価 and 金額 as a messy export writes them: "¥1,200", "1,200円", or garbage."""
    amount, unit = str(quantity * price), str(price)
    if kind == "yen_prefix":
        amount = f"{yen}{quantity * price:,}"
        if random_() < 0.5:
            unit = f"{yen}{price:,}"
    elif kind == "yen_suffix":
        amount = f"{quantity * price:,}円"
        if random_() < 0.5:
            unit = f"{price:,}円"
    else:
        amount = "abc" if random_() < 0.7 else "#VALUE!"
    return _csv_field(unit), _csv_field(amount)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def generate(
    out_dir: Path,
    *,
    customers: int,
    purchases: int,
    seed: int = 42,
    encoding: str = "utf-8",
    reference_date: date = date(2026, 11, 1),
    dirty: bool = False,
) -> GeneratedFiles:
    """Write ``customers.csv`` and ``purchases.csv`` into ``out_dir``.

    ``customers`` is the number of distinct customers, ``purchases`` the exact number of purchase
    lines. ``encoding`` is any Python codec (``utf-8``, ``utf-8-sig``, ``cp932``). Purchases fall
    in the 5 years before ``reference_date`` (exclusive). ``dirty`` adds ~1-2 % realistic mess
    (full-width or unhyphenated phones, padded upper-case e-mail domains, 和暦/漢字 dates,
    "¥1,200"/"1,200円" amounts, ~0.5 % duplicate customer rows) and a handful of invalid
    values; then ``customers_rows`` includes the duplicates.
    """
    if customers < 0 or purchases < 0:
        raise ValueError("customers and purchases must not be negative")
    if purchases and not customers:
        raise ValueError("purchases need at least one customer")
    codecs.lookup(encoding)  # fail early on a misspelt codec
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    calendar = _Calendar(reference_date)
    plan = _plan(customers, purchases, random.Random(f"{seed}:plan"), calendar)

    customers_path = out_dir / CUSTOMERS_FILE
    purchases_path = out_dir / PURCHASES_FILE
    partial_customers = customers_path.with_name(customers_path.name + ".part")
    partial_purchases = purchases_path.with_name(purchases_path.name + ".part")
    customers_rows, favourite = _write_customers(
        partial_customers, plan, seed=seed, encoding=encoding, dirty=dirty
    )
    purchases_rows = _write_purchases(
        partial_purchases,
        plan,
        favourite,
        calendar,
        seed=seed,
        encoding=encoding,
        dirty=dirty,
        total_lines=purchases,
    )
    os.replace(partial_customers, customers_path)
    os.replace(partial_purchases, purchases_path)
    return GeneratedFiles(customers_path, purchases_path, customers_rows, purchases_rows)
